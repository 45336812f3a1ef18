"""Phase 2 of generation: optimise object trajectories and body-pose sequences under the physical prior.

`optimise_objects` moves object centres [F, N, 3]; `optimise_body` moves SMPL parameters (global_orient,
body_pose, transl) of one body. Both minimise sum_k w_k E_k (terms.py, weights in PriorConfig) with Adam and a
cosine schedule created here, per call: optimiser and scheduler state live outside every model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from physflow.models.physics_prior import TemporalPrior, one_thread
from physflow.stages.common.prior import terms
from physflow.stages.common.prior.config import PriorConfig
from physflow.stages.common.prior.skeleton import FOOT_JOINTS, Skeleton, joint_limits, limit_excess

EnergyFn = Callable[[], dict[str, torch.Tensor]]


@dataclass
class PriorResult:
    """An optimised sequence plus the weighted energy of each term before and after (and the seconds taken)."""

    positions: np.ndarray  # [F, N, 3] object centres, or body joints [F, J, 3]
    params: dict[str, np.ndarray] = field(default_factory=dict)  # body only: global_orient, body_pose, transl
    energy_before: dict[str, float] = field(default_factory=dict)
    energy_after: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def _minimise(params: list[torch.Tensor], energies: EnergyFn, config: PriorConfig) -> tuple[dict, dict]:
    with one_thread():
        return _adam(params, energies, config)


def _adam(params: list[torch.Tensor], energies: EnergyFn, config: PriorConfig) -> tuple[dict, dict]:
    weights = config.weights.model_dump()
    optimiser = torch.optim.Adam(params, lr=config.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.steps, eta_min=config.lr * 0.05)

    def weighted() -> dict[str, torch.Tensor]:
        return {k: weights[k] * v for k, v in energies().items() if weights[k] > 0}

    with torch.no_grad():
        before = {k: float(v) for k, v in weighted().items()}
    for _ in range(config.steps):
        loss = torch.stack(list(weighted().values())).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        scheduler.step()
    with torch.no_grad():
        after = {k: float(v) for k, v in weighted().items()}
    return before, after


def _prior_energy(prior: TemporalPrior | None, features: torch.Tensor) -> torch.Tensor:
    if prior is None:
        return features.new_zeros(())
    return prior.energy(features)


def optimise_objects(
    obs: np.ndarray, conf: np.ndarray, radius: np.ndarray, free: np.ndarray, config: PriorConfig, *,
    intensity: float = 1.0, prior: TemporalPrior | None = None,
) -> PriorResult:
    """Optimise object centres. obs [F, N, 3] (m), conf [F, N] in [0, 1], radius [N] (m), free [N] bool
    (True: under gravity alone when in the air), intensity: the speed factor the text asks for."""
    start = time.perf_counter()
    target = torch.as_tensor(obs, dtype=torch.float32)
    weight = torch.as_tensor(conf, dtype=torch.float32)
    rad = torch.as_tensor(radius, dtype=torch.float32)
    is_free = torch.as_tensor(free, dtype=torch.bool)
    x = target.clone().requires_grad_(True)  # [F, N, 3]
    g_dt2 = config.gravity / config.fps**2  # free fall in one frame (m)
    target_step = terms.mean_step(target) * intensity

    def energies() -> dict[str, torch.Tensor]:
        height = x[..., 1] - rad - config.ground_y  # [F, N] gap between the object's bottom and the ground
        airborne = terms.free_flight(height.detach(), config.contact_height) & is_free
        velocity = (x[1:] - x[:-1]).transpose(0, 1) * config.fps  # [N, F-1, 3]
        return {
            "data": terms.robust_data(x, target, weight, config.robust_scale),
            "smooth": terms.jerk(x, terms.impacts(height.detach(), g_dt2) & is_free),
            "gravity": terms.ballistic(x, airborne, g_dt2),
            "ground": terms.penetration(height),
            "intensity": terms.speed_gap(x, target_step),
            "learned": _prior_energy(prior, velocity),
        }

    before, after = _minimise([x], energies, config)
    return PriorResult(x.detach().numpy().copy(), {}, before, after, time.perf_counter() - start)


def body_features(joints: torch.Tensor, fps: float) -> torch.Tensor:
    """Learned-prior features of a body [F, J, 3]: pelvis velocity (m/s) + joints relative to the pelvis (m),
    [1, F-1, 3 + 3J]."""
    velocity = (joints[1:, 0] - joints[:-1, 0]) * fps  # [F-1, 3]
    relative = (joints[1:] - joints[1:, :1]).flatten(1)  # [F-1, 3J]
    return torch.cat([velocity, relative], 1)[None]


def optimise_body(
    init: dict[str, np.ndarray], obs_joints: np.ndarray, conf: np.ndarray, config: PriorConfig, *,
    skeleton: Skeleton | None = None, intensity: float = 1.0, prior: TemporalPrior | None = None,
) -> PriorResult:
    """Optimise one body's SMPL parameters. init: global_orient [F, 3], body_pose [F, 23, 3], transl [F, 3];
    obs_joints [F, J, 3] (m) with conf [F, J]."""
    start = time.perf_counter()
    skel = skeleton or Skeleton.smpl()
    limits = joint_limits()
    names = ("global_orient", "body_pose", "transl")
    params = [torch.as_tensor(init[n], dtype=torch.float32).clone().requires_grad_(True) for n in names]
    target = torch.as_tensor(obs_joints, dtype=torch.float32)
    weight = torch.as_tensor(conf, dtype=torch.float32)
    target_step = terms.mean_step(target[:, :1]) * intensity
    feet = list(FOOT_JOINTS)

    def energies() -> dict[str, torch.Tensor]:
        joints = skel.joints(*params)  # [F, J, 3]
        height = joints[..., 1] - config.ground_y  # [F, J]
        touching = height[:, feet].detach() < config.contact_height
        return {
            "data": terms.robust_data(joints, target, weight, config.robust_scale),
            "smooth": terms.jerk(joints),
            "ground": terms.penetration(height),
            "contact": terms.skating(joints[:, feet], touching),
            "joint_limits": (limit_excess(params[1], limits) ** 2).mean(),
            "intensity": terms.speed_gap(joints[:, :1], target_step),
            "learned": _prior_energy(prior, body_features(joints, config.fps)),
        }

    before, after = _minimise(params, energies, config)
    with torch.no_grad():
        joints = skel.joints(*params).numpy().copy()
    out = {n: p.detach().numpy().copy() for n, p in zip(names, params, strict=True)}
    return PriorResult(joints, out, before, after, time.perf_counter() - start)
