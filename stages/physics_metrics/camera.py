"""Object tracks in stabilised coordinates: the camera's motion (models/camera_motion.py, from DIS flow) taken
out, so that a ball filmed by a panning or zooming camera is measured in the first frame's pixels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from physflow.models import camera_motion
from physflow.models.camera_motion import CameraMotion
from physflow.stages.physics_metrics.tracking import Track


def _zoom_back(back: np.ndarray, p: np.ndarray) -> float:
    """Local scale of the map `back` at point p (the factor that sizes there change by)."""
    jac = np.empty((2, 2))
    for d in range(2):
        q = np.array([p[0], p[1], 1.0])
        q[d] += 1.0
        a, b = back @ np.array([p[0], p[1], 1.0]), back @ q
        jac[:, d] = b[:2] / b[2] - a[:2] / a[2]
    return float(np.sqrt(abs(np.linalg.det(jac))))


def stabilise_tracks(tracks: Sequence[Track], motions: list[CameraMotion]) -> list[Track]:
    """The tracks with centres mapped into frame 0 and sizes scaled by the camera's zoom since frame 0. Border
    cuts stay as seen in the image (the border is the camera's)."""
    back = camera_motion.cumulative(motions)
    out = []
    for tr in tracks:
        pos = camera_motion.stabilise(tr.pos, tr.frames, motions)
        zoom = np.array([_zoom_back(back[min(int(t), len(back) - 1)], p) for t, p in zip(tr.frames, tr.pos, strict=True)])
        hh = None if tr.half_height is None else tr.half_height * zoom
        out.append(Track(tr.label, tr.hue, tr.frames, pos, tr.radius * zoom, tr.cut, hh, tr.animate))
    return out
