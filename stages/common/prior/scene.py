"""Between pixels and metres: moving-object tracks from frames, the camera that lifts them, part masks back.

`object_tracks` finds the moving blobs of a clip (difference to the median frame, connected components,
greedy nearest-centre tracking). `Camera` is the orthographic side view phase 2 assumes when it has no
body fit or depth: x to the right, y up from the ground row, z along the view ray (not seen).
`object_masks`, `body_masks` and `draw_body` draw an optimised sequence as uint8 part label maps (0 = none); the
masks carry confidence 1: they are exact renderings of the optimised motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from physflow.models.body_model import JOINT_NAMES, PARENTS
from physflow.stages.common.annotation import OBJECT_BASE

_HEAD = JOINT_NAMES.index("head")


@dataclass(frozen=True)
class Camera:
    """Orthographic side view: `ppm` pixels per metre, the ground at pixel row `ground_row`."""

    width: int
    height: int
    ppm: float
    ground_row: float

    @classmethod
    def for_frame(cls, width: int, height: int, metres_high: float = 2.0) -> Camera:
        """A frame `metres_high` metres tall whose bottom row is the ground."""
        return cls(width, height, height / metres_high, height - 1.0)

    def to_world(self, px: np.ndarray) -> np.ndarray:
        """Pixel centres [..., 2] (x, y down) -> points [..., 3] (m, y up, z = 0)."""
        x = (px[..., 0] - self.width / 2) / self.ppm
        y = (self.ground_row - px[..., 1]) / self.ppm
        return np.stack([x, y, np.zeros_like(x)], -1)

    def to_pixels(self, pts: np.ndarray) -> np.ndarray:
        """Points [..., 3] (m) -> pixels [..., 2] (x, y down)."""
        return np.stack([pts[..., 0] * self.ppm + self.width / 2, self.ground_row - pts[..., 1] * self.ppm], -1)


@dataclass(frozen=True)
class Tracks:
    centres: np.ndarray  # [F, N, 2] pixels, gaps filled by interpolation
    radius: np.ndarray  # [N] pixels
    seen: np.ndarray  # [F, N] bool: detected in that frame


def _blobs(frame: np.ndarray, background: np.ndarray, threshold: float, min_area: int) -> list[tuple[np.ndarray, float]]:
    diff = np.abs(frame.astype(np.int16) - background.astype(np.int16)).sum(-1)  # [H, W]
    mask = (diff > threshold).astype(np.uint8)
    n, _, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    found = [(centroids[i], float(stats[i, cv2.CC_STAT_AREA])) for i in range(1, n)]
    return sorted((b for b in found if b[1] >= min_area), key=lambda b: -b[1])


def object_tracks(frames: np.ndarray, *, max_objects: int = 4, threshold: float = 60.0, min_area: int = 4,
                  max_jump: float = 0.25) -> Tracks:
    """Moving blobs of frames [F, H, W, 3] uint8 as up to `max_objects` tracks (a blob further than
    `max_jump` x frame width from every track starts a new one)."""
    f, w = frames.shape[0], frames.shape[2]
    background = np.median(frames, axis=0)
    tracks: list[dict[int, tuple[np.ndarray, float]]] = []
    for t in range(f):
        for centre, area in _blobs(frames[t], background, threshold, min_area)[:max_objects]:
            last = [(np.linalg.norm(tr[max(tr)][0] - centre), i) for i, tr in enumerate(tracks) if t not in tr]
            near = [d_i for d_i in last if d_i[0] < max_jump * w]
            radius = float(np.sqrt(area / np.pi))
            if near:
                tracks[min(near)[1]][t] = (centre, radius)
            elif len(tracks) < max_objects:
                tracks.append({t: (centre, radius)})
    return make_tracks(tracks, f, min_frames=max(3, f // 4))  # a blob seen in a few frames is noise


def make_tracks(observed: list[dict[int, tuple[np.ndarray, float]]], n_frames: int, min_frames: int = 1) -> Tracks:
    """Tracks from per-track observations {frame: (centre px [2], radius px)}: tracks seen in fewer than
    `min_frames` frames are dropped, gaps and ends are filled by interpolation, radius is the median."""
    kept = [tr for tr in observed if len(tr) >= min_frames]
    centres = np.zeros((n_frames, len(kept), 2))
    seen = np.zeros((n_frames, len(kept)), bool)
    radius = np.zeros(len(kept))
    for i, tr in enumerate(kept):
        frames_seen = np.array(sorted(tr))
        pts = np.array([tr[k][0] for k in frames_seen])
        for axis in range(2):
            centres[:, i, axis] = np.interp(np.arange(n_frames), frames_seen, pts[:, axis])
        seen[frames_seen, i] = True
        radius[i] = np.median([tr[k][1] for k in frames_seen])
    return Tracks(centres, radius, seen)


def object_masks(positions: np.ndarray, radius: np.ndarray, camera: Camera, first_label: int = OBJECT_BASE,
                 out: np.ndarray | None = None) -> np.ndarray:
    """Objects [F, N, 3] (m) with radius [N] (m) drawn as filled discs, label first_label + n: [F, H, W] uint8
    (drawn onto `out` when given)."""
    f, n = positions.shape[:2]
    out = np.zeros((f, camera.height, camera.width), np.uint8) if out is None else out
    px = camera.to_pixels(positions)  # [F, N, 2]
    for t in range(f):
        for i in range(n):
            centre = (round(float(px[t, i, 0])), round(float(px[t, i, 1])))
            cv2.circle(out[t], centre, max(1, round(float(radius[i]) * camera.ppm)), first_label + i, -1)
    return out


def body_masks(joints: np.ndarray, camera: Camera, limb_px: int = 3, out: np.ndarray | None = None) -> np.ndarray:
    """A body's SMPL joints [F, 24, 3] (m) seen by the orthographic `camera`, drawn as limbs (`draw_body`).
    Drawn onto `out` [F, H, W] uint8 when given (bodies over objects)."""
    canvas = np.zeros((joints.shape[0], camera.height, camera.width), np.uint8) if out is None else out
    return draw_body(camera.to_pixels(joints), canvas, limb_px)


def draw_body(px: np.ndarray, canvas: np.ndarray, limb_px: int = 3, frames: np.ndarray | None = None) -> np.ndarray:
    """SMPL joints in pixels [T, 24, 2] drawn onto label maps `canvas` [F, H, W] uint8 (at `frames` [T], by
    default 0..T-1): the bone from joint p to its child has p's part label p + 1 (the joint whose skin wraps
    it), the head a disc of label head + 1."""
    pts = np.round(np.nan_to_num(px, nan=-1e4)).clip(-1e4, 1e4).astype(int)
    for t, frame in enumerate(range(len(px)) if frames is None else frames):
        for child, parent in enumerate(PARENTS):
            if parent >= 0:
                cv2.line(canvas[frame], tuple(pts[t, parent]), tuple(pts[t, child]), parent + 1, limb_px)
        cv2.circle(canvas[frame], tuple(pts[t, _HEAD]), 2 * limb_px, _HEAD + 1, -1)
    return canvas
