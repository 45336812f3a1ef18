"""Physics measures of a point sequence [F, N, 3] (metres, y up), for tests, benchmarks and generation rows."""

from __future__ import annotations

import numpy as np
import torch

from physflow.stages.common.prior.terms import free_flight


def position_rmse(x: np.ndarray, truth: np.ndarray) -> float:
    """Root mean squared distance (m) between two sequences of points."""
    return float(np.sqrt(((x - truth) ** 2).sum(-1).mean()))


def gravity_residual(x: np.ndarray, fps: float, free: np.ndarray, heights: np.ndarray, *, g: float = 9.81,
                     contact: float = 0.03) -> float:
    """Mean |acceleration - g| (m/s^2) of free points over frames in free flight (terms.free_flight of
    heights [F, N] above the ground); nan when no such frame."""
    if x.shape[0] < 3:
        return float("nan")
    acc = (x[2:] - 2 * x[1:-1] + x[:-2]) * fps * fps  # [F-2, N, 3]
    air = free_flight(torch.as_tensor(heights), contact).numpy() & np.asarray(free, bool)[None]
    mask = air[1:-1]
    if not mask.any():
        return float("nan")
    residual = np.linalg.norm(acc - np.array([0.0, -g, 0.0]), axis=-1)
    return float(residual[mask].mean())


def penetration_depth(heights: np.ndarray) -> float:
    """Mean depth (m) below the ground over all points and frames (heights [F, N], negative = inside)."""
    return float(np.clip(-heights, 0, None).mean())


def jitter(x: np.ndarray, fps: float) -> float:
    """Mean |third difference| as jerk (m/s^3): high for shaky sequences."""
    if x.shape[0] < 4:
        return float("nan")
    d3 = x[3:] - 3 * x[2:-1] + 3 * x[1:-2] - x[:-3]
    return float(np.linalg.norm(d3, axis=-1).mean() * fps**3)


def limit_violation(body_pose: np.ndarray, limits: np.ndarray) -> float:
    """Mean excess (rad) of axis-angle components body_pose [F, 23, 3] over limits [23, 3, 2]."""
    excess = np.clip(limits[..., 0] - body_pose, 0, None) + np.clip(body_pose - limits[..., 1], 0, None)
    return float(excess.mean())
