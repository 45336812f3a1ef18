"""The analysis reader thread: frames in order, the reader's error raised to the caller, and a reader that
stops (closing its source) when the caller stops early."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from physflow.flows.demo import write_demo_videos
from physflow.stages.analyze.shots.detect import shots_frame
from physflow.stages.common.prefetch import prefetched
from physflow.stages.common.video_io import iter_frames


def test_prefetched_frames_equal_the_decoded_frames(tmp_path):
    video = write_demo_videos(tmp_path)[0]
    direct = [(i, a.copy()) for i, a in iter_frames(video, width=64, fmt="yuv420p")]
    ahead = list(prefetched(iter_frames(video, width=64, fmt="yuv420p"), 4))
    assert [i for i, _ in ahead] == [i for i, _ in direct] and len(direct) > 10
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(ahead, direct, strict=True))


def test_the_readers_error_reaches_the_caller():
    def broken():
        yield 1
        raise ValueError("decode failed at frame 1")

    got = []
    with pytest.raises(ValueError, match="frame 1"):
        for item in prefetched(broken(), 2):
            got.append(item)
    assert got == [1]


def test_stopping_early_stops_the_reader_and_closes_its_source():
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    stream = prefetched(endless(), 3)
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    stream.close()
    assert closed.wait(5) and not any(t.name == "prefetch" for t in threading.enumerate())


def test_shot_frames_are_area_averaged_down_never_up():
    bgr = np.zeros((144, 256, 3), np.uint8)
    bgr[:, ::2] = 200  # stripes one pixel wide average to flat grey
    small = shots_frame(bgr, 128)
    assert small.shape == (72, 128, 3) and np.all(small == 100)
    assert shots_frame(bgr, 512) is bgr
