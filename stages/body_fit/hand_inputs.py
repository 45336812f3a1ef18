"""The pose rows' hand landmarks as arrays for an SMPL-X fit (models/hand_fit.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

SIDES = ("left", "right")


def hand_arrays(rows: list[dict[str, Any]], min_presence: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(T, 2, 21, 3) pixels with presence (0 where a hand is absent or below `min_presence`) and (T, 2, 21, 3)
    world landmarks (NaN where absent) of the left and right hand per row; None when no row has a hand."""
    pixels = np.zeros((len(rows), 2, 21, 3))
    world = np.full((len(rows), 2, 21, 3), np.nan)
    for t, row in enumerate(rows):
        for k, side in enumerate(SIDES):
            points = row.get(f"{side}_hand")
            if not points:
                continue
            pts = np.asarray(points, np.float64)
            if pts.shape != (21, 3) or not np.isfinite(pts).all() or pts[:, 2].max() < min_presence:
                continue
            pixels[t, k] = pts
            w = row.get(f"{side}_hand_world")
            if w is not None and np.asarray(w).shape == (21, 3):
                world[t, k] = np.asarray(w, np.float64)
    if not (pixels[..., 2] > 0).any():
        return None
    return pixels, world
