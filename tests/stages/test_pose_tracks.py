"""Short and faint pose tracks (partial bodies found and lost again) are pruned; whole-clip tracks stay."""

from __future__ import annotations

import numpy as np

from physflow.stages.pose import PoseConfig
from physflow.stages.pose.stage import prune_tracks, track_stats


def _people(track: int, frames: range, conf: float) -> list:
    kps = np.concatenate([np.zeros((17, 2)), np.full((17, 1), conf)], 1)
    return [(f, track, np.zeros(4), kps, 0.9, {}) for f in frames]


def test_prune_keeps_long_confident_tracks():
    people = _people(1, range(48), 0.9) + _people(2, range(10, 12), 0.9) + _people(3, range(20, 40), 0.3)
    stats = track_stats(people)
    assert {t: n for t, (n, _) in stats.items()} == {1: 48, 2: 2, 3: 20} and abs(stats[3][1] - 0.3) < 1e-9
    kept, dropped = prune_tracks(people, min_frames=3, min_visibility=0.0)
    assert {p[1] for p in kept} == {1, 3} and dropped == 1
    kept, dropped = prune_tracks(people, min_frames=3, min_visibility=0.5)
    assert {p[1] for p in kept} == {1} and dropped == 2 and len(kept) == 48


def test_defaults_are_set():
    c = PoseConfig()
    assert c.min_track_frames >= 2 and 0.0 <= c.min_track_visibility < 1.0
