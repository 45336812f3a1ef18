"""Project posed meshes through a pinhole camera and rasterise them, z-ordered, into a label map."""

from __future__ import annotations

import cv2
import numpy as np


def project_np(points: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """(..., 3) camera-space points to (..., 2) source pixels; camera = focal, cx, cy, width, height."""
    z = np.clip(points[..., 2:3], 1e-3, None)
    return camera[0] * points[..., :2] / z + camera[1:3]


def rasterize_labels(
    meshes: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    camera: np.ndarray,
    size: tuple[int, int],
    base: np.ndarray | None = None,
) -> np.ndarray:
    """Paint every face of every mesh (vertices (V, 3) in camera space, faces (F, 3), face labels (F,)) into
    a uint8 (h, w) map at `size`, farthest faces first (painter's algorithm), over `base` when given."""
    h, w = size
    out = np.zeros((h, w), np.uint8) if base is None else base.copy()
    to_map = np.array([w / camera[3], h / camera[4]])
    tris, depth, labels = [], [], []
    for verts, faces, face_labels in meshes:
        in_front = verts[faces, 2].min(axis=1) > 1e-2
        pix = project_np(verts, camera) * to_map
        tris.append(pix[faces[in_front]])
        depth.append(verts[faces[in_front], 2].mean(axis=1))
        labels.append(face_labels[in_front])
    if not tris:
        return out
    all_tris, all_depth, all_labels = np.concatenate(tris), np.concatenate(depth), np.concatenate(labels)
    fixed = np.round(all_tris * 16).astype(np.int32)  # 4 fractional bits for sub-pixel edges
    for i in np.argsort(-all_depth):
        cv2.fillConvexPoly(out, fixed[i], int(all_labels[i]), lineType=cv2.LINE_8, shift=4)
    return out


def face_labels(vertex_labels: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """A face's label: the label most of its vertices carry (its first vertex's on a three-way tie)."""
    v = vertex_labels[faces]
    return np.where(v[:, 1] == v[:, 2], v[:, 1], v[:, 0])
