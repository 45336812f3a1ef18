"""A contact sheet per clip: a few frames with part-mask colours, boxes with track ids, skeletons and hands."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

# COCO-17 limbs and the 21-point hand's bones (wrist to each finger tip)
COCO_LIMBS = ((5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14),
              (14, 16), (0, 1), (0, 2), (1, 3), (2, 4))
HAND_BONES = tuple((a, b) for finger in range(5) for a, b in
                   zip([0, *range(4 * finger + 1, 4 * finger + 4)], range(4 * finger + 1, 4 * finger + 5), strict=True))


def _colour(track_id: int) -> tuple[int, int, int]:
    rng = np.random.default_rng(track_id)
    return tuple(int(v) for v in rng.integers(60, 256, 3))  # type: ignore[return-value]


def draw_frame(image: np.ndarray, label_map: np.ndarray, palette: np.ndarray, *, alpha: float, scale: float,
               detections: list[dict[str, Any]], poses: list[dict[str, Any]]) -> np.ndarray:
    """One annotated RGB frame; `scale` maps source pixels (rows' boxes and keypoints) to the image."""
    if label_map.shape != image.shape[:2]:
        label_map = cv2.resize(label_map, image.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    a = alpha * (label_map > 0)[..., None]
    out = np.ascontiguousarray((image * (1 - a) + palette[label_map] * a).astype(np.uint8))
    for d in detections:
        x1, y1, x2, y2 = (np.asarray(d["box"]) * scale).round().astype(int)
        colour = _colour(d["track_id"])
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
        cv2.putText(out, f"{d['cls']} #{d['track_id']}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    colour, 1, cv2.LINE_AA)
    for p in poses:
        colour = _colour(p["track_id"])
        kps = np.asarray(p["keypoints"])
        _bones(out, kps[:, :2] * scale, kps[:, 2] > 0.3, COCO_LIMBS, colour=colour, width=2)
        for side in ("left_hand", "right_hand"):
            if p.get(side):
                hand = np.asarray(p[side])
                _bones(out, hand[:, :2] * scale, np.ones(len(hand), bool), HAND_BONES,
                       colour=(255, 200, 0) if side == "left_hand" else (0, 200, 255), width=1)
    return out


def _bones(image: np.ndarray, pts: np.ndarray, ok: np.ndarray, bones: tuple[tuple[int, int], ...], *,
           colour: tuple[int, int, int], width: int) -> None:
    for a, b in bones:
        if ok[a] and ok[b]:
            cv2.line(image, tuple(int(v) for v in pts[a].round()), tuple(int(v) for v in pts[b].round()), colour, width,
                     cv2.LINE_AA)
    for p, seen in zip(pts, ok, strict=True):
        if seen:
            cv2.circle(image, tuple(int(v) for v in p.round()), width + 1, colour, -1, cv2.LINE_AA)


def tile(frames: list[np.ndarray], columns: int = 2) -> np.ndarray:
    """Frames of one size in a grid, row by row (empty cells black)."""
    h, w = frames[0].shape[:2]
    rows = -(-len(frames) // columns)
    sheet = np.zeros((rows * h, columns * w, 3), np.uint8)
    for i, f in enumerate(frames):
        r, c = divmod(i, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = f
    return sheet
