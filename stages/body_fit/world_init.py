"""The body's starting orientation from a pose model's 3D world landmarks (BlazePose: metres, camera axes x right,
y down, z away from the camera, origin between the hips)."""

from __future__ import annotations

import cv2
import numpy as np

L_SHOULDER, R_SHOULDER, L_HIP, R_HIP = 11, 12, 23, 24


def orientation(world: np.ndarray) -> np.ndarray | None:
    """Axis-angle (3,) of the rotation taking the body model's frame (x = the body's left, y = up, z = forward)
    into camera axes, from the hips and shoulders of (33, 3) world landmarks; None when they are degenerate."""
    w = np.asarray(world, np.float64)
    left = w[L_HIP] - w[R_HIP] + w[L_SHOULDER] - w[R_SHOULDER]
    up = (w[L_SHOULDER] + w[R_SHOULDER] - w[L_HIP] - w[R_HIP]) / 2
    if np.linalg.norm(left) < 1e-6 or np.linalg.norm(up) < 1e-6:
        return None
    x = left / np.linalg.norm(left)
    y = up - x * (up @ x)  # Gram-Schmidt: up made perpendicular to the left-right axis
    if np.linalg.norm(y) < 1e-6:
        return None
    y /= np.linalg.norm(y)
    rot = np.stack([x, y, np.cross(x, y)], axis=1)
    return cv2.Rodrigues(rot)[0].ravel()


def orientations(world_per_frame: list[list[list[float]] | None]) -> np.ndarray | None:
    """(T, 3) starting orientations, None unless every frame has usable world landmarks."""
    out = [orientation(np.asarray(w)) if w else None for w in world_per_frame]
    return None if any(o is None for o in out) else np.stack(out)  # type: ignore[arg-type]


# BlazePose landmark -> SMPL joint: shoulders, elbows, wrists, hips, knees, ankles.
_BLAZE_TO_SMPL = {11: 16, 12: 17, 13: 18, 14: 19, 15: 20, 16: 21, 23: 1, 24: 2, 25: 4, 26: 5, 27: 7, 28: 8}


def world_targets(rows: list[dict]):  # type: ignore[no-untyped-def]
    """The pose rows' world landmarks as 3D targets of the body's joints (models/smplify.WorldTargets), weighted
    by each landmark's visibility; None when no row has world landmarks."""
    from physflow.models.smplify import WorldTargets

    blaze = list(_BLAZE_TO_SMPL)
    points = np.full((len(rows), len(blaze), 3), np.nan)
    weight = np.zeros((len(rows), len(blaze)))
    for t, row in enumerate(rows):
        world = row.get("world_landmarks")
        if not world or len(world) < 33:
            continue
        points[t] = np.asarray(world, np.float64)[blaze]
        landmarks = row.get("landmarks")
        weight[t] = np.asarray(landmarks, np.float64)[blaze, 3] if landmarks and len(landmarks) >= 33 else 1.0
    if not weight.any():
        return None
    return WorldTargets(list(_BLAZE_TO_SMPL.values()), points, weight)
