"""The local backend's real path: the GGUF named in physflow.toml, loaded by llama-cpp-python once."""

from __future__ import annotations

import pytest

from physflow.data_catalog import Catalog
from physflow.flows.physics_context import resolve_config
from physflow.models.registry import WeightsRegistry
from physflow.stages.physics_context import (
    CATEGORIES,
    PhysicsContextConfig,
    PhysicsContextStage,
    PhysicsItem,
    ServiceError,
)

pytestmark = pytest.mark.timeout(900)


def test_local_backend_loads_the_registry_gguf_and_answers(smollm2_gguf, tmp_path, monkeypatch):
    (tmp_path / "physflow.toml").write_text(f'[weights]\nllm = "{smollm2_gguf}"\n')
    monkeypatch.chdir(tmp_path)
    config = resolve_config(PhysicsContextConfig(backend="local", max_tokens=256), Catalog(tmp_path / "cat"))
    assert config.model_path == str(smollm2_gguf) and "model_path" not in config.model_dump()
    stage = PhysicsContextStage(config)
    assert WeightsRegistry.load().require("llm").sha256 in stage.weights_sha256()
    row = stage.run([PhysicsItem("A rubber ball bounces on a wooden floor.")]).to_pylist()[0]
    assert row["model"] == f"gguf:{smollm2_gguf.name}" and row["backend"] == "local"
    # SmolLM2-135M is weak: a grammar-constrained answer either validates or is a clean error row.
    assert row["error"] is None or row["error"].startswith("InvalidAnswerError"), row["error"]
    if row["error"] is None:
        assert row["enhanced_prompt"] and set(row["categories"]) <= set(CATEGORIES)


def test_local_backend_without_a_model_fails_before_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PHYSFLOW_WEIGHTS_DIR", raising=False)
    stage = PhysicsContextStage(PhysicsContextConfig(backend="local"))
    with pytest.raises(ServiceError, match="model_path"):
        stage.run([PhysicsItem("A ball falls.")])
