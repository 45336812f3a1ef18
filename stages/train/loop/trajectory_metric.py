"""A simple physics-consistency score for videos of one saturated object on a grey scene (the synthetic
ball world): track the object's centroid per frame and measure how far its path is from constant
acceleration (a per-axis quadratic fit in time).

- presence: fraction of frames where the object is found (>= 2 saturated pixels);
- traj_rms_px: RMS residual (pixels) of the quadratic fit over frames where it is found (NaN with < 4 frames);
lower traj_rms_px = motion closer to a ballistic path. Used to compare recipes until the synthetic world's
physics metrics are available.
"""

from __future__ import annotations

import cv2
import numpy as np


def track_centroids(video: np.ndarray, min_saturation: int = 90, min_value: int = 70) -> list[tuple[float, float] | None]:
    """Centroid (x, y) of saturated pixels per frame of a [F, H, W, 3] uint8 RGB video, None where absent."""
    out: list[tuple[float, float] | None] = []
    for frame in video:
        hsv = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2HSV)
        ys, xs = np.nonzero((hsv[..., 1] >= min_saturation) & (hsv[..., 2] >= min_value))
        out.append((float(xs.mean()), float(ys.mean())) if len(xs) >= 2 else None)
    return out


def trajectory_score(video: np.ndarray) -> dict[str, float]:
    """presence and traj_rms_px for one video (see module docstring)."""
    points = track_centroids(video)
    found = [(t, p) for t, p in enumerate(points) if p is not None]
    presence = len(found) / max(1, len(points))
    if len(found) < 4:
        return {"presence": presence, "traj_rms_px": float("nan")}
    t = np.array([f[0] for f in found], dtype=np.float64)
    xy = np.array([f[1] for f in found], dtype=np.float64)
    residuals = []
    for axis in range(2):
        coef = np.polyfit(t, xy[:, axis], 2)
        residuals.append(xy[:, axis] - np.polyval(coef, t))
    return {"presence": presence, "traj_rms_px": float(np.sqrt(np.mean(np.square(residuals))))}
