"""ReVision's training condition mix: exact per-frame part masks (confidence 1), a sketched target of random parts
in the final frame only (ellipse or polygon, confidence 0.5), or nothing (0)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

EXACT, SKETCH, EMPTY = 0, 1, 2


def sketch_parts(label: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rough drawing of a random non-empty subset of the parts in `label` [H, W] (float label values)."""
    out = np.zeros_like(label, dtype=np.float32)
    parts = [v for v in np.unique(label) if v > 0]
    if not parts:
        return out
    chosen = [p for p in parts if rng.random() < 0.5] or [parts[int(rng.integers(len(parts)))]]
    for part in chosen:
        ys, xs = np.nonzero(label == part)
        points = np.stack([xs, ys], axis=1).astype(np.int32)
        canvas = np.zeros(label.shape, np.uint8)
        if len(points) >= 5 and rng.random() < 0.5:
            cv2.ellipse(canvas, cv2.fitEllipse(points.astype(np.float32)), 1, -1)
        else:
            cv2.fillPoly(canvas, [cv2.convexHull(points)], 1)
        out[canvas > 0] = float(part)
    return out


def mix_conditions(masks: torch.Tensor, conf: torch.Tensor, probs: tuple[float, float, float],
                   rng: np.random.Generator) -> torch.Tensor:
    """masks [B, F, H, W] (label / max_parts), conf [B, F] -> condition [B, F, 2, H, W] (mask, confidence)."""
    b, f, h, w = masks.shape
    out = torch.zeros(b, f, 2, h, w, dtype=masks.dtype)
    modes = rng.choice(3, size=b, p=np.asarray(probs) / sum(probs))
    for i, mode in enumerate(modes):
        if mode == EXACT:
            out[i, :, 0] = masks[i]
            out[i, :, 1] = conf[i].view(f, 1, 1).expand(f, h, w)
        elif mode == SKETCH and conf[i, -1] > 0:
            out[i, -1, 0] = torch.from_numpy(sketch_parts(masks[i, -1].numpy(), rng))
            out[i, -1, 1] = 0.5
    return out
