"""Phase 2's physical prior on synthetic motion with known truth: corrupted sequences come out closer to it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from physflow.models.physics_prior import PriorTraining, TemporalPrior, load_prior, save_prior, train_temporal_prior
from physflow.stages.common.prior import metrics
from physflow.stages.common.prior.optimise import optimise_body, optimise_objects
from physflow.stages.common.prior.skeleton import joint_limits
from physflow.stages.common.prior.terms import intensity_from_text
from physflow.stages.generate.prior import synthetic
from physflow.stages.generate.prior.config import PriorConfig, PriorWeights

FPS = 8.0
FRAMES = 24

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: threads only add overhead on a shared machine
    yield
    torch.set_num_threads(before)


def _object_measures(x: np.ndarray, obj: synthetic.Objects) -> dict[str, float]:
    heights = x[..., 1] - obj.radius
    return {
        "gravity": metrics.gravity_residual(x, FPS, obj.free, heights),
        "penetration": metrics.penetration_depth(heights),
        "jitter": metrics.jitter(x, FPS),
    }


def test_objects_come_closer_to_truth() -> None:
    obj = synthetic.ballistic_objects(FRAMES, FPS, seed=1)
    obs = synthetic.corrupt_objects(obj, seed=1)
    result = optimise_objects(obs, np.ones(obs.shape[:2]), obj.radius, obj.free, PriorConfig(fps=FPS))
    for i in range(obs.shape[1]):  # every object: thrown, rolling, carried
        before = metrics.position_rmse(obs[:, i], obj.positions[:, i])
        after = metrics.position_rmse(result.positions[:, i], obj.positions[:, i])
        assert after < 0.95 * before, (i, before, after)
    seen, fixed = _object_measures(obs, obj), _object_measures(result.positions, obj)
    assert fixed["gravity"] < 0.1 * seen["gravity"]  # hovering removed: free flight follows g
    assert fixed["penetration"] < 0.1 * seen["penetration"]
    assert fixed["jitter"] < 0.8 * seen["jitter"]
    assert sum(result.energy_after.values()) < sum(result.energy_before.values())


def test_gravity_weight_zero_leaves_hovering() -> None:
    obj = synthetic.ballistic_objects(FRAMES, FPS, seed=1)
    obs = synthetic.corrupt_objects(obj, seed=1)
    on = optimise_objects(obs, np.ones(obs.shape[:2]), obj.radius, obj.free, PriorConfig(fps=FPS))
    off = optimise_objects(obs, np.ones(obs.shape[:2]), obj.radius, obj.free,
                           PriorConfig(fps=FPS, weights=PriorWeights(gravity=0.0)))
    assert "gravity" not in off.energy_after
    assert _object_measures(on.positions, obj)["gravity"] < 0.5 * _object_measures(off.positions, obj)["gravity"]


def test_body_comes_closer_to_truth() -> None:
    truth = synthetic.walk_params(FRAMES, FPS)
    truth_joints = synthetic.body_joints(truth)
    noisy = synthetic.corrupt_body(truth, seed=1)
    obs = synthetic.body_joints(noisy)
    result = optimise_body(noisy, obs, np.ones(obs.shape[:2]), PriorConfig(fps=FPS))
    limits = joint_limits().numpy()
    assert metrics.position_rmse(result.positions, truth_joints) < metrics.position_rmse(obs, truth_joints)
    # frames sunk into the ground or with a knee bent backwards: the prior's terms fix those
    bad = (obs[..., 1].min(1) < -0.02) | (noisy["body_pose"][:, 3, 0] < 0)
    assert bad.sum() >= 4
    before = metrics.position_rmse(obs[bad], truth_joints[bad])
    assert metrics.position_rmse(result.positions[bad], truth_joints[bad]) < 0.9 * before
    assert metrics.penetration_depth(result.positions[..., 1]) < 0.2 * metrics.penetration_depth(obs[..., 1])
    seen_limits = metrics.limit_violation(noisy["body_pose"], limits)
    assert metrics.limit_violation(result.params["body_pose"], limits) < 0.2 * seen_limits
    assert result.params["body_pose"].shape == (FRAMES, 23, 3)


def test_learned_prior_trains_saves_and_helps(tmp_path) -> None:
    clean = synthetic.object_training_set(8, FRAMES, FPS, seed=100)
    prior = TemporalPrior(3, scale=2.0)
    losses = train_temporal_prior(prior, clean, PriorTraining(steps=150))
    assert np.mean(losses[-20:]) < 0.7 * np.mean(losses[:20])
    noisy = clean + torch.randn(clean.shape, generator=torch.Generator().manual_seed(0)) * 0.3
    with torch.no_grad():
        assert prior.energy(clean) < prior.energy(noisy)
    path = tmp_path / "object_prior.pt"
    save_prior(prior, str(path))
    again = load_prior(str(path))
    with torch.no_grad():
        assert torch.allclose(again(noisy), prior(noisy))
    obj = synthetic.ballistic_objects(FRAMES, FPS, seed=1)
    obs = synthetic.corrupt_objects(obj, seed=1)
    result = optimise_objects(obs, np.ones(obs.shape[:2]), obj.radius, obj.free, PriorConfig(fps=FPS), prior=again)
    assert metrics.position_rmse(result.positions, obj.positions) < metrics.position_rmse(obs, obj.positions)
    assert result.energy_after["learned"] < result.energy_before["learned"]


def test_motion_intensity_from_text_changes_speed() -> None:
    assert intensity_from_text("a ball rolls slowly") < 1.0 < intensity_from_text("a ball is thrown fast")
    assert intensity_from_text("a cup on a table") == 1.0
    obj = synthetic.ballistic_objects(FRAMES, FPS, seed=2)
    config = PriorConfig(fps=FPS, weights=PriorWeights(intensity=50.0))
    slow = optimise_objects(obj.positions, np.ones(obj.positions.shape[:2]), obj.radius, obj.free, config,
                            intensity=intensity_from_text("it moves slowly"))
    steps_truth = np.linalg.norm(np.diff(obj.positions, axis=0), axis=-1).mean()
    steps_slow = np.linalg.norm(np.diff(slow.positions, axis=0), axis=-1).mean()
    assert steps_slow < 0.9 * steps_truth


def test_config_rejects_bad_weights() -> None:
    with pytest.raises(ValidationError, match="gravity"):
        PriorConfig(weights=PriorWeights(gravity=-1.0))
    with pytest.raises(ValidationError, match="extra"):
        PriorConfig(unknown=1)
