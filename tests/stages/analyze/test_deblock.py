"""Analysis decodes without the in-loop deblocking filter by default (`AnalyzeConfig.deblock`): the option reaches
the decoder (H.264 working frames change, a little), and on the shared real videos the shots and keep/reject
decisions are the full-rate golden ones with the filter on or off."""

from __future__ import annotations

import json

import numpy as np
import pytest

from physflow.stages.analyze import AnalyzeConfig
from physflow.stages.common.video_io import PLANES_LINEAR, iter_frames
from tests.stages.analyze.test_sampling import GOLDEN, decisions


def _frames(path, deblock: bool) -> list[np.ndarray]:
    return [a.copy() for _, a in iter_frames(path, end=40, width=256, fmt="yuv420p", interpolation=PLANES_LINEAR,
                                             deblock=deblock)]


def test_skipping_the_filter_changes_h264_frames_a_little(real_videos):
    path = real_videos / "sam2_04_coffee_pour.mp4"  # 1280x720 H.264
    on, off = _frames(path, True), _frames(path, False)
    assert len(on) == len(off) == 40
    diff = [np.abs(a.astype(np.int16) - b).mean() for a, b in zip(on, off, strict=True)]
    assert max(diff) > 0.0, "the decoder ignored skip_loop_filter"
    assert np.mean(diff) < 1.5, diff  # grey levels of 255, averaged over the working frame


def test_frames_of_codecs_without_the_option_are_unchanged(real_videos):
    path = real_videos / "scenedetect_fades.mp4"  # MPEG-4 Part 2: no in-loop deblocking
    assert all(np.array_equal(a, b) for a, b in zip(_frames(path, True), _frames(path, False), strict=True))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("deblock", [True, False])
def test_decisions_are_the_golden_ones_either_way(real_videos, deblock):
    assert AnalyzeConfig().deblock is False
    assert decisions(real_videos, AnalyzeConfig(deblock=deblock)) == json.loads(GOLDEN.read_text())
