"""The filter policy keeps reasons for every drop; export writes normalised H.264 MP4 blobs."""

from __future__ import annotations

import pytest

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.storage import Root
from physflow.flows.demo import write_demo_videos
from physflow.stages.clip_export import ExportConfig, ExportItem, ExportStage
from physflow.stages.common.video_io import probe
from physflow.stages.curate_filter import FilterConfig, FilterStage

GOOD = {"clip_id": "v:0-60", "video_id": "v", "duration_s": 4.0, "height": 480, "brightness": 0.4,
        "blur": 300.0, "motion_p90": 0.01, "static": False, "text_area": 0.01, "duplicate_of": None}


def test_each_rule_names_its_reason_and_good_clips_are_kept():
    cases = {
        "duplicate": {"duplicate_of": "w:0-60", "dup_distance": 3}, "too_short": {"duration_s": 1.0},
        "low_resolution": {"height": 120}, "dark": {"brightness": 0.01}, "static": {"static": True},
        "blurry": {"blur": 2.0}, "high_motion": {"motion_p90": 0.5}, "text": {"text_area": 0.6},
    }
    rows = [GOOD] + [{**GOOD, "clip_id": f"v:{i}", **patch} for i, patch in enumerate(cases.values())]
    out = FilterStage(FilterConfig()).run([rows]).to_pylist()
    assert out[0]["keep"] is True and out[0]["reject_reason"] is None
    for row, reason in zip(out[1:], cases, strict=True):
        assert row["keep"] is False and row["reject_reason"].startswith(reason + ":"), row["reject_reason"]
    both = FilterStage(FilterConfig()).run([[{**GOOD, "duration_s": 0.5, "static": True}]]).to_pylist()[0]
    assert "too_short" in both["reject_reason"] and "static" in both["reject_reason"]


def test_inverted_ranges_fail_naming_the_values():
    with pytest.raises(ValueError, match="min_brightness"):
        FilterConfig(min_brightness=0.9, max_brightness=0.5)


def test_export_writes_h264_mp4_blobs_at_the_short_side(tmp_path):
    video = write_demo_videos(tmp_path / "in")[0]  # 192x128, 48 frames at 24 fps
    info = probe(video, decode="none")
    clips = [
        {"clip_id": f"v:{s}-{e}", "video_id": "v", "start_frame": s, "end_frame": e, "width": info.width,
         "height": info.height, "fps": info.fps, "keep": True}
        for s, e in ((0, 20), (24, 48))
    ]
    out = ExportStage(ExportConfig(short_side=64, fps=12.0)).run(
        [ExportItem(root=str(tmp_path / "catalog"), uri=str(video), clips=clips)]).to_pylist()
    assert [r["error"] for r in out] == [None, None]
    assert out[0]["clip_uri"].startswith("blobs/")  # a catalog-relative blob reference
    first = probe(BlobStore(Root(tmp_path / "catalog")).resolve(out[0]["clip_uri"]))
    assert (first.codec, first.height, first.width, first.n_frames) == ("h264", 64, 96, 10)
    assert out[1]["clip_uri"].endswith(".mp4") and out[0]["clip_sha256"] in out[0]["clip_uri"]


def test_an_export_item_costs_its_decoded_and_encoded_pixels():
    """Items go to the worker processes costliest first (flows/runtime.py): encoding at the export size weighs
    most, so a 640x272 clip costs about what a 1280x720 clip of as many frames does (each took 2.3-2.7 ms a frame),
    and frames past `max_frames` or dropped to a lower rate cost no encoding."""
    def item(width: int, height: int, frames: int, fps: float = 25.0) -> ExportItem:
        clip = {"clip_id": "v:0", "video_id": "v", "start_frame": 0, "end_frame": frames, "width": width,
                "height": height, "fps": fps}
        return ExportItem(root="unused", uri="unused", clips=[clip])

    stage = ExportStage(ExportConfig())
    hd, small = stage.cost(item(1280, 720, 166)), stage.cost(item(640, 272, 166))
    assert 0.75 < small / hd < 1.33
    assert stage.cost(item(1280, 720, 1000)) == pytest.approx(stage.cost(item(1280, 720, 300)))  # max_frames 300
    halved = ExportStage(ExportConfig(fps=12.5)).cost(item(640, 272, 166))
    assert halved < 0.6 * small
