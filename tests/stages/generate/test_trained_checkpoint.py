"""Generation from a checkpoint trained and registered by the training stages (tiny, CPU)."""

from __future__ import annotations

import pytest

pytest.importorskip("physflow.stages.train.stage", reason="the train stage is not installed")

from physflow.data_catalog import Catalog
from physflow.stages.generate.config import GenerateConfig
from physflow.stages.generate.generator import JointGenerator, RevisionGenerator
from physflow.stages.generate.stage import GenerateItem, GenerateStage

pytestmark = pytest.mark.timeout(300)


def _train(root, recipe_cfg) -> str:
    from physflow.stages.train.data import DataConfig, load_snapshot
    from physflow.stages.train.loop import LoopConfig
    from tests.fixtures.train_run import run_training
    from tests.fixtures.train_world import build_train_world

    catalog = build_train_world(root, n_clips=2, frames=8, size=32)
    data = DataConfig(frames=4, size=32)
    loop = LoopConfig(steps=2, batch_size=1, save_every=2)
    run_training(catalog, recipe_cfg, data, loop, load_snapshot(catalog, data))
    return catalog.query("SELECT checkpoint_id FROM checkpoints ORDER BY step DESC LIMIT 1").column(0)[0].as_py()


@pytest.mark.parametrize("recipe", ["revision", "videojam"])
def test_generate_from_a_registered_checkpoint(tmp_path, first_frame, recipe) -> None:
    from physflow.stages.train.recipes import RevisionConfig, VideoJAMConfig

    root = tmp_path / "catalog"
    checkpoint = _train(root, RevisionConfig() if recipe == "revision" else VideoJAMConfig())
    stage = GenerateStage(GenerateConfig(checkpoint=checkpoint, frames=4, width=32, height=32, steps=2,
                                         learned_prior={"sequences": 4, "steps": 10}, prior={"steps": 30}))
    item = GenerateItem(prompt="a ball falls", image_path=str(first_frame), image_sha256="cd" * 32,
                        blob_root=str(Catalog(root).root.uri))
    rows = stage.run([item]).to_pylist()
    assert [r["stage"] for r in rows] == ["coarse", "prior", "refined"], rows[0].get("error")
    assert all(r["error"] is None and r["checkpoint_id"] == checkpoint for r in rows)
    generator = stage._pipeline(item.blob_root).generator
    assert isinstance(generator, RevisionGenerator if recipe == "revision" else JointGenerator)
