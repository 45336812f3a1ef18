"""Targets for the final frame of phase 1: a drawn sketch or a target pose, as one part label map.

A target pose is the 17 COCO keypoints of a person (the pose table's format) in pixels of the first-frame
image, read from JSON: `{"keypoints": [[x, y, c], ...]}` or the bare list (c optional, below 0.1 = not given).
It is drawn as limbs with the catalog's body-part labels (SMPL joint + 1, the joint whose skin wraps the
bone), the head as a disc: the same label map a fitted body gives in part_masks.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from physflow.models.body_model import JOINT_NAMES
from physflow.stages.common.annotation import OBJECT_BASE

COCO17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
          "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
          "right_knee", "left_ankle", "right_ankle")
# (from keypoint, to keypoint, SMPL joint whose part label the bone takes); "mid_*" = midpoint of the pair
_LIMBS = (
    ("left_shoulder", "left_elbow", "left_shoulder"), ("left_elbow", "left_wrist", "left_elbow"),
    ("right_shoulder", "right_elbow", "right_shoulder"), ("right_elbow", "right_wrist", "right_elbow"),
    ("left_hip", "left_knee", "left_hip"), ("left_knee", "left_ankle", "left_knee"),
    ("right_hip", "right_knee", "right_hip"), ("right_knee", "right_ankle", "right_knee"),
    ("left_shoulder", "right_shoulder", "spine3"), ("left_hip", "right_hip", "pelvis"),
    ("mid_shoulders", "mid_hips", "spine1"),
)
MIN_CONF = 0.1


def load_target_pose(path: str | Path) -> np.ndarray:
    """[17, 3] keypoints (x, y, confidence) from a JSON file; a malformed file fails naming what is wrong."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"target pose {path}: not a readable JSON file ({exc})") from None
    points = data.get("keypoints") if isinstance(data, dict) else data
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.zeros((0,))
    if arr.ndim != 2 or arr.shape[0] != len(COCO17) or arr.shape[1] not in (2, 3) or not np.isfinite(arr).all():
        raise ValueError(f"target pose {path}: expected 17 COCO keypoints as [x, y] or [x, y, confidence], "
                         f"got an array of shape {arr.shape}")
    if arr.shape[1] == 2:
        arr = np.concatenate([arr, np.ones((len(arr), 1))], 1)
    return arr


def pose_label_map(keypoints: np.ndarray, height: int, width: int, limb_px: int | None = None) -> np.ndarray:
    """COCO-17 keypoints [17, 3] (pixels) drawn as body-part labels on a [height, width] uint8 map."""
    limb = limb_px or max(1, round(min(height, width) / 40))
    pts = {name: keypoints[i] for i, name in enumerate(COCO17)}
    for pair in ("shoulders", "hips"):
        a, b = pts[f"left_{pair[:-1]}"], pts[f"right_{pair[:-1]}"]
        pts[f"mid_{pair}"] = np.array([(a[0] + b[0]) / 2, (a[1] + b[1]) / 2, min(a[2], b[2])])
    out = np.zeros((height, width), np.uint8)
    for start, end, joint in _LIMBS:
        a, b = pts[start], pts[end]
        if min(a[2], b[2]) >= MIN_CONF:
            cv2.line(out, (round(a[0]), round(a[1])), (round(b[0]), round(b[1])), JOINT_NAMES.index(joint) + 1, limb)
    head = [pts[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear") if pts[n][2] >= MIN_CONF]
    if head:
        centre = np.mean([h[:2] for h in head], 0)
        cv2.circle(out, (round(centre[0]), round(centre[1])), 2 * limb, JOINT_NAMES.index("head") + 1, -1)
    return out


def sketch_labels(sketch: np.ndarray | None, pose: np.ndarray | None, height: int, width: int) -> np.ndarray | None:
    """One label map [height, width] (image size) for the final frame: the sketch (a label map, or a drawing
    whose non-black pixels are one object, OBJECT_BASE), with the target pose drawn over it; None when neither
    is given."""
    if sketch is None and pose is None:
        return None
    out = np.zeros((height, width), np.uint8)
    if sketch is not None:
        drawing = sketch.ndim == 3
        labels = np.where(sketch.max(axis=2) > 0, OBJECT_BASE, 0).astype(np.uint8) if drawing else sketch.astype(np.uint8)
        out = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
    if pose is not None:
        drawn = pose_label_map(pose, height, width)
        out = np.where(drawn > 0, drawn, out)
    return out
