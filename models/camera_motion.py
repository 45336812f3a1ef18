"""The camera's own frame-to-frame motion, from a dense flow field, and what it says about the shot.

`estimate(flow)` fits a 3x3 homography (or an affine model) robustly (RANSAC) to a grid of flow samples: most of a
frame is background, so the dominant motion is the camera's. `residual(flow, H)` is the flow left once the camera
motion is taken out (what moved in the scene). `classify(motions)` names a clip's camera from the per-frame
estimates: static, pan, tilt, zoom or shaky. `stabilise(points, motions)` maps image points of every frame into
the first frame's coordinates, so that object physics is measured as if the camera had not moved.

Used by the moving-object detector (objects = residual flow), the physics measures (stabilised tracks) and
curation (the camera class as a clip measure). Units: pixels of the flow field's frame.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

CAMERA_CLASSES = ("static", "pan", "tilt", "zoom", "shaky")


@dataclass(frozen=True)
class CameraMotion:
    """One frame pair's camera motion: `matrix` maps a point of frame t to frame t+1 (homogeneous, 3x3)."""

    matrix: np.ndarray  # (3, 3) float64
    inliers: float  # share of flow samples the model explains (1 = all background moved as one)

    @property
    def translation(self) -> np.ndarray:
        return self.matrix[:2, 2].copy()

    @property
    def scale(self) -> float:
        """Isotropic zoom factor of the linear part (1 = no zoom)."""
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:2, :2]))))


IDENTITY = CameraMotion(np.eye(3), 1.0)


def _samples(flow: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid points every `step` px (x, y) and where the flow takes them, row by row: the grid's points are made
    once per field size, and its flow vectors read as a strided view rather than gathered point by point."""
    h, w = flow.shape[:2]
    src = _grid(h, w, step)
    dst = src + flow[step // 2::step, step // 2::step].reshape(-1, 2).astype(np.float32)
    return src, dst


@functools.lru_cache(maxsize=16)
def _grid(h: int, w: int, step: int) -> np.ndarray:
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    grid = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    grid.flags.writeable = False  # shared by every call for this size
    return grid


def estimate(flow: np.ndarray, *, model: str = "homography", step: int = 8, threshold: float = 1.0) -> CameraMotion:
    """Camera motion of one flow field (H, W, 2) px: RANSAC fit over a grid of samples every `step` px, a
    sample an inlier within `threshold` px. Too few samples or a failed fit give the identity."""
    src, dst = _samples(flow, max(1, step))
    if len(src) < 8:
        return IDENTITY
    if model == "homography":
        matrix, mask = cv2.findHomography(src, dst, cv2.RANSAC, threshold, maxIters=500, confidence=0.99)
    elif model == "affine":
        affine, mask = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=threshold)
        matrix = None if affine is None else np.vstack([affine, [0.0, 0.0, 1.0]])
    else:
        raise ValueError(f"unknown camera model {model!r}; known: homography, affine")
    if matrix is None or not np.all(np.isfinite(matrix)):
        return IDENTITY
    return CameraMotion(np.asarray(matrix, np.float64), float(np.mean(mask)) if mask is not None else 0.0)


def camera_flow(shape: tuple[int, int], motion: CameraMotion) -> np.ndarray:
    """The flow (H, W, 2) the camera motion alone would cause."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    pts = np.stack([xs, ys, np.ones_like(xs)], -1) @ motion.matrix.T
    moved = pts[..., :2] / np.where(np.abs(pts[..., 2:]) < 1e-9, 1e-9, pts[..., 2:])
    return (moved - np.stack([xs, ys], -1)).astype(np.float32)


def residual(flow: np.ndarray, motion: CameraMotion) -> np.ndarray:
    """Flow minus the camera's: what moved in the scene (H, W, 2) px."""
    return flow - camera_flow(flow.shape[:2], motion)


def cumulative(motions: list[CameraMotion]) -> list[np.ndarray]:
    """For each frame t (0..len(motions)), the matrix taking frame-t points back into frame 0."""
    out, to_t = [np.eye(3)], np.eye(3)
    for m in motions:
        to_t = m.matrix @ to_t  # frame 0 -> frame t+1
        out.append(np.linalg.inv(to_t))
    return out


def stabilise(points: np.ndarray, frames: np.ndarray, motions: list[CameraMotion]) -> np.ndarray:
    """Image points (N, 2) seen at frames (N,) mapped into frame 0's coordinates."""
    back = cumulative(motions)
    pts = np.asarray(points, np.float64)
    out = np.empty_like(pts)
    for i, (p, t) in enumerate(zip(pts, np.asarray(frames, int), strict=True)):
        q = back[min(max(t, 0), len(back) - 1)] @ np.array([p[0], p[1], 1.0])
        out[i] = q[:2] / q[2]
    return out


def classify(motions: list[CameraMotion], size: tuple[int, int], *, still_px: float = 0.2,
             shaky_ratio: float = 1.5, zoom_rate: float = 0.002) -> str:
    """A clip's camera class from its per-frame motions, size (H, W): `static` when the mean translation is under
    `still_px` px per frame; `zoom` when the mean scale change per frame exceeds `zoom_rate`; `shaky` when the
    translation's frame-to-frame jitter is `shaky_ratio` times its steady part; else `pan` (mostly horizontal) or
    `tilt` (mostly vertical). Thresholds scale with the frame diagonal (given at 256 px)."""
    if not motions:
        return "static"
    diag = float(np.hypot(*size)) / float(np.hypot(256, 256))
    t = np.array([m.translation for m in motions]) / diag
    zoom = float(np.mean([m.scale for m in motions]) - 1.0)
    steady = np.abs(t.mean(0))
    jitter = float(np.linalg.norm(np.diff(t, axis=0), axis=1).mean()) if len(t) > 1 else 0.0
    if abs(zoom) > zoom_rate:
        return "zoom"
    if np.linalg.norm(steady) < still_px:
        return "shaky" if jitter > max(still_px, 1e-9) * shaky_ratio * 2 else "static"
    if jitter > shaky_ratio * float(np.linalg.norm(steady)):
        return "shaky"
    return "pan" if steady[0] >= steady[1] else "tilt"


def motions(flows: np.ndarray | list[np.ndarray], *, model: str = "homography", step: int = 8,
            threshold: float = 1.0) -> list[CameraMotion]:
    """`estimate` for every flow field of a clip (T-1 fields, each frame t to t+1)."""
    return [estimate(f, model=model, step=step, threshold=threshold) for f in flows]


def describe(found: list[CameraMotion], size: tuple[int, int]) -> dict[str, float | str]:
    """Curation measures of a clip's camera, size (H, W): its class, mean translation (px per frame), mean zoom
    change per frame and mean inlier share."""
    if not found:
        return {"camera_class": "static", "camera_shift_px": 0.0, "camera_zoom_rate": 0.0, "camera_inliers": 1.0}
    return {
        "camera_class": classify(found, size),
        "camera_shift_px": float(np.mean([np.linalg.norm(m.translation) for m in found])),
        "camera_zoom_rate": float(np.mean([m.scale for m in found]) - 1.0),
        "camera_inliers": float(np.mean([m.inliers for m in found])),
    }


def matrix_error(a: np.ndarray, b: np.ndarray, size: tuple[int, int], step: int = 16) -> float:
    """Mean distance (px) between where two 3x3 motions send a grid of points of a frame of `size` (H, W)."""
    h, w = size
    ys, xs = np.mgrid[0:h:step, 0:w:step].astype(np.float64)
    pts = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)], axis=0)
    pa, pb = a @ pts, b @ pts
    return float(np.linalg.norm(pa[:2] / pa[2] - pb[:2] / pb[2], axis=0).mean())
