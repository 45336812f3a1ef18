"""A file whose first video stream is a one-frame picture (a cover) ahead of the video: every stage reads the
video, the stream FFmpeg picks as the main one, not the picture."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.storage import Root
from physflow.stages.clip_export import ExportConfig, ExportItem, ExportStage
from physflow.stages.common.video_io import iter_frames, probe

N = 50


def _with_cover(path: Path) -> Path:
    with av.open(str(path), mode="w") as c:
        cover = c.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 96, 96, "yuvj420p"
        video = c.add_stream("libx264", rate=Fraction(25))
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        c.mux(cover.encode(av.VideoFrame.from_ndarray(np.zeros((96, 96, 3), np.uint8), format="rgb24")))
        c.mux(cover.encode())
        for i in range(N):
            c.mux(video.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), 4 * i, np.uint8), format="rgb24")))
        c.mux(video.encode())
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "mjpeg"  # the picture comes first
    return path


def test_the_video_not_its_cover_picture_is_read(tmp_path):
    path = _with_cover(tmp_path / "covered.mkv")
    info = probe(path)
    assert (info.error, info.codec, info.width, info.height, info.n_frames) == (None, "h264", 64, 48, N)
    assert [a.shape for _, a in iter_frames(path)] == [(48, 64, 3)] * N
    clip = {"clip_id": f"c:0-{N}", "video_id": "c", "start_frame": 0, "end_frame": N, "width": 64, "height": 48,
            "fps": 25.0, "keep": True}
    row = ExportStage(ExportConfig()).run([ExportItem(root=str(tmp_path / "cat"), uri=str(path),
                                                      clips=[clip])]).to_pylist()[0]
    assert row["error"] is None, row
    with av.open(str(BlobStore(Root(tmp_path / "cat")).resolve(row["clip_uri"]))) as c:
        assert sum(1 for _ in c.decode(video=0)) == N
