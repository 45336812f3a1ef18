"""The caption stage: measured captions from tracks, sidecars winning, and the openai backend over real
HTTP on 127.0.0.1 with frames of a real clip as images (retries, garbage, slow, down, invalid answers,
the concurrency limit and resuming from the per-item cache)."""

from __future__ import annotations

import math

import pytest

from physflow.stages.caption import CaptionConfig, CaptionStage, ClipMeasures, TrackMeasure, compose
from physflow.stages.caption.measures import rises_and_falls
from physflow.stages.common.openai_chat import ChatServiceError
from tests.servers import free_port
from tests.stages.caption.vlm_endpoint import Behaviour, VlmEndpoint

pytestmark = pytest.mark.timeout(60)
FPS = 30.0


def ball_track(bounces: int, frames: int = 90) -> TrackMeasure:
    """A ball's centre bouncing `bounces` times: |sin| arcs, image y down."""
    ts = range(frames)
    cy = tuple(0.8 - 0.5 * abs(math.sin(math.pi * bounces * t / frames)) for t in ts)
    return TrackMeasure("sports ball", 2, tuple(ts), tuple(0.5 for _ in ts), cy)


def person_track(frames: int = 90) -> TrackMeasure:
    return TrackMeasure("person", 1, tuple(range(frames)), tuple(0.3 for _ in range(frames)),
                        tuple(0.5 + 0.002 * (t % 2) for t in range(frames)))


def clip(clip_id: str = "v:0-90", **kw) -> ClipMeasures:
    return ClipMeasures(clip_id, "v", "/nonexistent.mp4", 0, 90, FPS, **kw)


def test_measured_caption_says_who_moves_how():
    text = compose(clip(tracks=(person_track(), ball_track(3)), camera="static"))
    assert text.startswith("a ball and a person; ")
    assert "the ball rises and falls 3 times" in text and "the person stays in place" in text
    assert text.endswith("static camera; 3.0 s")


@pytest.mark.parametrize("bounces", [1, 2, 4])
def test_rises_and_falls_counts_arcs(bounces):
    import numpy as np

    assert rises_and_falls(np.asarray(ball_track(bounces).cy)) == bounces


def test_crossing_and_empty_clips():
    walker = TrackMeasure("car", 3, tuple(range(30)), tuple(0.1 + 0.02 * t for t in range(30)), (0.5,) * 30)
    assert "the car moves right across the frame" in compose(clip(tracks=(walker,)))
    assert compose(clip(flow_mag=0.05)) == "a still scene; 3.0 s"


def test_sidecar_wins_and_rows_follow_the_schema():
    stage = CaptionStage(CaptionConfig())
    table = stage.run([clip("v:0-90", sidecar="  A chef flips a pancake.\n"), clip("v:90-180", tracks=(ball_track(2),))])
    rows = table.to_pylist()
    assert [(r["source"], r["backend"]) for r in rows] == [("sidecar", "sidecar"), ("measured", "measured")]
    assert rows[0]["caption"] == "A chef flips a pancake."
    assert "the ball rises and falls 2 times" in rows[1]["caption"] and rows[1]["error"] is None


@pytest.fixture(scope="module")
def real_clip(real_videos) -> ClipMeasures:
    path = real_videos / "decord_flipping_a_pancake.mkv"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return ClipMeasures("pancake:0-60", "pancake", str(path), 0, 60, FPS, tracks=(person_track(60),))


def vlm_config(ep: VlmEndpoint, tmp_path, **kw) -> CaptionConfig:
    base = {"backend": "openai", "base_url": ep.base_url, "model": "vlm-test", "frames": 3, "image_width": 96,
            "backoff_s": 0.01, "item_cache": str(tmp_path / "cache.sqlite")}
    return CaptionConfig(**{**base, **kw})


def test_openai_backend_sends_real_frames_as_images(real_clip, tmp_path):
    with VlmEndpoint() as ep:
        rows = CaptionStage(vlm_config(ep, tmp_path)).run([real_clip]).to_pylist()
    assert rows[0]["caption"] == "3 frames of 96x54" and rows[0]["source"] == "vlm" and rows[0]["model"] == "vlm-test"
    sent = ep.behaviour.requests[0]
    assert sent["response_format"]["type"] == "json_schema"
    assert '"duration_s": 2.0' in sent["messages"][1]["content"][0]["text"]  # the measured facts travel too
    with VlmEndpoint() as ep2:  # resumed from the per-item cache: no request at all
        again = CaptionStage(vlm_config(ep2, tmp_path)).run([real_clip]).to_pylist()
    assert again[0]["caption"] == rows[0]["caption"] and ep2.behaviour.requests == []


def test_transient_failures_are_retried(real_clip, tmp_path):
    with VlmEndpoint(Behaviour(fail_first=2)) as ep:
        rows = CaptionStage(vlm_config(ep, tmp_path, max_retries=3)).run([real_clip]).to_pylist()
    assert rows[0]["error"] is None and len(ep.behaviour.requests) == 3


def test_invalid_answer_gets_one_retry_then_is_an_error_row(real_clip, tmp_path):
    with VlmEndpoint(Behaviour(invalid_content="a ball, I think")) as ep:
        rows = CaptionStage(vlm_config(ep, tmp_path)).run([real_clip]).to_pylist()
    assert rows[0]["caption"] is None and "invalid answer after one retry" in rows[0]["error"]
    assert len(ep.behaviour.requests) == 2


def test_garbage_server_fails_before_work(tmp_path):
    with VlmEndpoint(Behaviour(garbage=True)) as ep, pytest.raises(ChatServiceError, match="JSONDecodeError"):
        CaptionStage(vlm_config(ep, tmp_path)).run([clip()])


def test_server_down_fails_before_work(tmp_path):
    cfg = CaptionConfig(backend="openai", base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", timeout_s=2)
    with pytest.raises(ChatServiceError, match="cannot use"):
        CaptionStage(cfg).run([clip()])


def test_slow_server_times_out_and_the_shard_fails(real_clip, tmp_path):
    with VlmEndpoint(Behaviour(delay_s=2.0)) as ep, pytest.raises(ChatServiceError, match="ReadTimeout"):
        CaptionStage(vlm_config(ep, tmp_path, timeout_s=0.3, max_retries=1)).run([real_clip])


def test_concurrency_is_bounded(real_clip, tmp_path):
    clips = [ClipMeasures(f"pancake:{i}-{i + 30}", "pancake", real_clip.uri, i, i + 30, FPS) for i in range(0, 180, 30)]
    with VlmEndpoint(Behaviour(delay_s=0.2)) as ep:
        rows = CaptionStage(vlm_config(ep, tmp_path, concurrency=2, frames=1)).run(clips).to_pylist()
    assert all(r["error"] is None for r in rows) and ep.behaviour.max_in_flight == 2


def test_config_fails_naming_the_value():
    with pytest.raises(ValueError, match="base_url"):
        CaptionConfig(backend="openai", model="m")


def test_tracker_fragments_are_not_more_objects():
    """A ball lost and found again gets several short track ids; three people side by side are three."""
    fragments = tuple(TrackMeasure("sports ball", 10 + i, tuple(range(i * 10, i * 10 + 8)), (0.5,) * 8, (0.5,) * 8)
                      for i in range(6))
    people = tuple(TrackMeasure("person", i, tuple(range(60)), (0.2 * (i + 1),) * 60, (0.5,) * 60) for i in range(3))
    assert compose(clip(tracks=fragments + people)).startswith("three people and a ball;")


def test_camera_motion_is_measured_from_flow_fields(tmp_path):
    import numpy as np

    still, pan = tmp_path / "still.npy", tmp_path / "pan.npy"
    np.save(still, np.zeros((8, 64, 96, 2), np.float16))
    moving = np.zeros((8, 64, 96, 2), np.float16)
    moving[..., 0] = 3.0  # every pixel 3 px to the right per frame: the camera pans
    np.save(pan, moving)
    rows = CaptionStage(CaptionConfig()).run([clip("v:0-90", flow_path=str(still)),
                                              clip("v:90-180", flow_path=str(pan))]).to_pylist()
    assert rows[0]["caption"].endswith("static camera; 3.0 s") and rows[1]["caption"].endswith("pan camera; 3.0 s")
