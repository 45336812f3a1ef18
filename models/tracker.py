"""Linking per-frame boxes into tracks: box IoU and a greedy IoU tracker, and the person class name.

Used by the classical detector and by the annotation stages for boxes a model left without a track id.
"""

from __future__ import annotations

import numpy as np

PERSON = "person"


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of x1,y1,x2,y2 boxes."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


class IouTracker:
    """Links per-frame boxes into tracks by greedy IoU matching with the last box of each live track."""

    def __init__(self, min_iou: float = 0.3, max_gap: int = 5):
        self.min_iou, self.max_gap = min_iou, max_gap
        self.tracks: dict[int, tuple[int, np.ndarray, str]] = {}  # id -> (last step, box, class)
        self.next_id = 1
        self.step = 0

    def update(self, boxes: np.ndarray, classes: list[str]) -> list[int]:
        """Track ids for this frame's boxes (same order)."""
        self.step += 1
        live = [(tid, box, cls) for tid, (step, box, cls) in self.tracks.items() if self.step - step <= self.max_gap]
        ids = [0] * len(boxes)
        if live and len(boxes):
            iou = box_iou(boxes, np.stack([b for _, b, _ in live]))
            for flat in np.argsort(-iou, axis=None):
                i, j = divmod(int(flat), iou.shape[1])
                if iou[i, j] < self.min_iou:
                    break
                if ids[i] or live[j][0] in ids or live[j][2] != classes[i]:
                    continue
                ids[i] = live[j][0]
        for i, box in enumerate(boxes):
            if not ids[i]:
                ids[i], self.next_id = self.next_id, self.next_id + 1
            self.tracks[ids[i]] = (self.step, np.asarray(box, float), classes[i])
        return ids
