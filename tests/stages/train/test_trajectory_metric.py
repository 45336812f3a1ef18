"""The trajectory score: a rendered ballistic ball scores near 0 px, a randomly jumping ball scores high."""

from __future__ import annotations

import numpy as np

from physflow.stages.train.loop.trajectory_metric import trajectory_score
from tests.fixtures.train_world import BallClip, render


def test_ballistic_ball_is_consistent_and_jumping_ball_is_not():
    frames, _ = render(BallClip("red", 4.0, 4.0, 1.5, 0.0, bounce=True), frames=6, size=64)
    smooth = trajectory_score(np.stack(frames))
    assert smooth["presence"] == 1.0 and smooth["traj_rms_px"] < 0.5
    rng = np.random.default_rng(0)
    jumps = [render(BallClip("red", float(rng.uniform(8, 56)), float(rng.uniform(8, 50)), 0.0, 0.0, bounce=False),
                    frames=1, size=64)[0][0] for _ in range(8)]
    jumpy = trajectory_score(np.stack(jumps))
    assert jumpy["traj_rms_px"] > 3 * smooth["traj_rms_px"] + 1.0
    grey = np.full((6, 32, 32, 3), 90, np.uint8)
    empty = trajectory_score(grey)
    assert empty["presence"] == 0.0 and np.isnan(empty["traj_rms_px"])
