"""Hands in the part label maps: SMPL-X's joints folded into the SMPL label set (fingers become the left / right
hand labels, as SMPL's hand parts are), and hands drawn from the hand landmarks' convex hull where no fit is."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from physflow.models.body_model import JOINT_NAMES

LEFT_HAND = JOINT_NAMES.index("left_hand") + 1  # 23: a label is an SMPL joint index + 1
RIGHT_HAND = JOINT_NAMES.index("right_hand") + 1  # 24
HEAD = JOINT_NAMES.index("head") + 1
_SMPLX_BODY, _SMPLX_FACE, _SMPLX_LEFT, _SMPLX_RIGHT = range(22), range(22, 25), range(25, 40), range(40, 55)


def joint_labels(n_joints: int) -> np.ndarray:
    """(n_joints,) the part label of each joint of an SMPL (24) or SMPL-X (55) model, in SMPL's label set:
    SMPL-X's jaw and eyes are the head, its 15 finger joints per hand the hand."""
    if n_joints <= len(JOINT_NAMES):
        return np.arange(n_joints) + 1
    out = np.zeros(n_joints, np.int64)
    out[list(_SMPLX_BODY)] = np.array(_SMPLX_BODY) + 1
    out[list(_SMPLX_FACE)] = HEAD
    out[list(_SMPLX_LEFT)] = LEFT_HAND
    out[list(_SMPLX_RIGHT)] = RIGHT_HAND
    return out


def paint_hand_hulls(label_map: np.ndarray, poses: list[dict[str, Any]], scale: float,
                     min_presence: float = 0.5) -> np.ndarray:
    """`label_map` with each present hand of `poses` (21 landmarks, source pixels) filled as its convex hull
    with the hand's label; `scale` maps source pixels to the map."""
    out = label_map
    for pose in poses:
        for side, label in (("left_hand", LEFT_HAND), ("right_hand", RIGHT_HAND)):
            points = pose.get(side)
            if not points:
                continue
            pts = np.asarray(points, np.float64)
            if pts.shape != (21, 3) or pts[:, 2].max() < min_presence or not np.isfinite(pts).all():
                continue
            hull = cv2.convexHull(np.round(pts[:, :2] * scale * 16).astype(np.int32))
            out = out.copy() if out is label_map else out
            cv2.fillConvexPoly(out, hull, label, lineType=cv2.LINE_8, shift=4)
    return out
