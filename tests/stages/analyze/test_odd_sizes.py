"""Videos of an odd width or height (MJPEG, VP9 and ProRes allow them; H.264 in 4:2:0 does not) are measured and
exported: blur's luma of a full-range MJPEG 853x479 video went through a yuv420p conversion that needs even
sides, and the whole video became an error row ("width has to be even for this format")."""

from __future__ import annotations

import av
import pytest

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.storage import Root
from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.clip_export import ExportConfig, ExportItem, ExportStage

FRAMES = 40


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("muxer", "codec", "pix_fmt"), [("avi", "mjpeg", "yuvj420p"), ("webm", "libvpx-vp9", "yuv420p")])
def test_an_odd_sized_video_is_measured_and_exported(tmp_path, real_videos, muxer, codec, pix_fmt):
    path = tmp_path / f"odd.{muxer}"
    with av.open(str(real_videos / "sam2_05_default_juggle.mp4")) as src, av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=25)
        s.width, s.height, s.pix_fmt = 853, 479, pix_fmt
        for _, frame in zip(range(FRAMES), src.decode(video=0), strict=False):
            rgb = frame.to_ndarray(format="rgb24", width=853, height=479)  # a new frame: the encoder's timing
            out.mux(s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(s.encode())
    video = {"video_id": "odd", "uri": str(path), "fps": 25.0, "width": 853, "height": 479, "error": None}
    rows = AnalyzeStage(AnalyzeConfig()).run([video]).to_pylist()
    assert [r["error"] for r in rows] == [None] * len(rows), rows
    assert rows[0]["blur"] > 100  # a real video (as MJPEG: 2,260; its 854x480 copy 2,273)
    clip = {**rows[0], "keep": True}
    row = ExportStage(ExportConfig()).run([ExportItem(root=str(tmp_path / "cat"), uri=str(path), clips=[clip])]
                                          ).to_pylist()[0]
    assert row["error"] is None, row
    with av.open(str(BlobStore(Root(tmp_path / "cat")).resolve(row["clip_uri"]))) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (456, 256)
        assert sum(1 for _ in c.decode(video=0)) == clip["end_frame"] - clip["start_frame"]
