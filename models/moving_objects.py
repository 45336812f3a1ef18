"""Moving objects from optical flow with the camera's own motion taken out, one track per object.

Per frame t: the dense flow to the next frame (the previous one's, reversed, for the last frame), the camera
motion fitted robustly to it (models/camera_motion.py), and the residual flow. Pixels whose residual exceeds
a threshold (a floor in pixels, or a multiple of the frame's typical residual, whichever is larger) are
moving; nearby moving regions are grouped into one object (a closing at a scale of the frame diagonal), and
small ones dropped. Tracking: each live track's mask is carried into the next frame by the flow inside it
(its mean displacement) and matched to the new objects by mask overlap; an object matching no track starts
one, a track matching nothing coasts for a few frames before it ends; tracks seen in fewer than
`min_track_frames` frames (flicker) are dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import cv2
import numpy as np

from physflow.models.camera_motion import estimate, residual
from physflow.models.classical_detector import MOVING  # the class name of moving-object tracks
from physflow.models.flow_engines import DisFlow

__all__ = ["MOVING", "MovingObject", "MovingObjectTracker"]


@dataclass
class MovingObject:
    track_id: int
    mask: np.ndarray  # (H, W) bool
    box: np.ndarray  # x1, y1, x2, y2 px
    score: float  # mean residual speed inside the mask over the threshold, capped at 1


@dataclass
class _Track:
    mask: np.ndarray  # carried forward to the frame being matched
    last_seen: int


class MovingObjectTracker:
    def __init__(self, *, min_area: float = 0.001, motion_px: float = 0.8, noise_factor: float = 3.0,
                 group_frac: float = 0.02, min_overlap: float = 0.2, max_gap: int = 3, camera_model: str = "homography",
                 preset: str = "medium", min_track_frames: int = 3):
        self.min_area, self.motion_px, self.noise_factor = min_area, motion_px, noise_factor
        self.group_frac, self.min_overlap, self.max_gap = group_frac, min_overlap, max_gap
        self.camera_model, self.min_track_frames = camera_model, min_track_frames
        self.flow = DisFlow(preset)

    def __call__(self, frames: list[np.ndarray]) -> list[list[MovingObject]]:
        """Frames of one clip in order (RGB uint8, one size) -> the moving objects of each frame."""
        if len(frames) < 2:
            return [[] for _ in frames]
        tracks: dict[int, _Track] = {}
        next_id, out = 1, []
        for t in range(len(frames)):
            forward = self._flow(frames[t], frames[t + 1]) if t + 1 < len(frames) else None
            backward = self._flow(frames[t], frames[t - 1]) if t > 0 else None
            found = self.objects(*(f for f in (forward, backward) if f is not None))
            ids = self._match(tracks, found)
            objects = []
            for (mask, score), matched in zip(found, ids, strict=True):
                tid = matched or next_id
                next_id += not matched
                tracks[tid] = _Track(mask, t)
                objects.append(MovingObject(tid, mask, _box(mask), score))
            if forward is not None:
                for track in tracks.values():  # carry every live mask to frame t+1 by the flow inside it
                    inside = forward[track.mask]
                    track.mask = _shift(track.mask, inside.mean(0) if len(inside) else np.zeros(2))
            tracks = {k: v for k, v in tracks.items() if t - v.last_seen < self.max_gap}
            out.append(objects)
        lengths = Counter(o.track_id for objects in out for o in objects)  # flicker (a few frames) is no object
        return [[o for o in objects if lengths[o.track_id] >= self.min_track_frames] for objects in out]

    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.flow(a[None], b[None])[0]

    def speed(self, flow: np.ndarray) -> np.ndarray:
        """Residual speed (px / frame) once the camera motion fitted to `flow` is removed."""
        h, w = flow.shape[:2]
        motion = estimate(flow, model=self.camera_model, step=max(4, round(min(h, w) / 40)))
        return np.linalg.norm(residual(flow, motion), axis=2)

    def objects(self, *flows: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """(mask, score) of each moving object of a frame, from its flow to the next and to the previous frame.
        Dense flow spreads an object's motion onto the pixels it moves into; a pixel counts as moving only when
        it moves in both directions (frame t's object, not where it was or will be)."""
        h, w = flows[0].shape[:2]
        speed = np.min([self.speed(f) for f in flows], axis=0)
        threshold = max(self.motion_px, self.noise_factor * float(np.median(speed)))
        moving = (speed > threshold).astype(np.uint8)
        moving = cv2.morphologyEx(moving, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        k = max(3, round(self.group_frac * float(np.hypot(h, w))) | 1)
        grouped = cv2.morphologyEx(moving, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(grouped)
        out = []
        for i in range(1, n):
            area = stats[i, cv2.CC_STAT_AREA]
            if area < self.min_area * h * w or area > 0.6 * h * w:  # most of the frame moving: the camera model failed
                continue
            for mask in _cores(labels == i, speed, self.min_area * h * w):
                out.append((mask, float(min(1.0, speed[mask].mean() / threshold / 4))))
        return out

    def _match(self, tracks: dict[int, _Track], found: list[tuple[np.ndarray, float]]) -> list[int]:
        """Track id per found object (0: new), greedy on overlap with each track's carried mask."""
        ids = [0] * len(found)
        pairs = []
        for i, (mask, _) in enumerate(found):
            for tid, track in tracks.items():
                inter = np.logical_and(mask, track.mask).sum()
                if inter:
                    overlap = inter / min(mask.sum(), track.mask.sum())
                    pairs.append((overlap, i, tid))
        used: set[int] = set()
        for overlap, i, tid in sorted(pairs, reverse=True):
            if overlap >= self.min_overlap and not ids[i] and tid not in used:
                ids[i] = tid
                used.add(tid)
        return ids


def _box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


def _shift(mask: np.ndarray, d: np.ndarray) -> np.ndarray:
    m = np.float32([[1, 0, d[0]], [0, 1, d[1]]])
    return cv2.warpAffine(mask.astype(np.uint8), m, mask.shape[::-1], flags=cv2.INTER_NEAREST) > 0



def _cores(region: np.ndarray, speed: np.ndarray, min_area: float) -> list[np.ndarray]:
    """The objects of one moving region: flow fades out around an object, so keep the pixels moving at least
    half the region's top speed (90th percentile); each cluster left, filled to its convex hull, is one object
    (two balls side by side stay two). The whole region when nothing is left."""
    core = (region & (speed > 0.5 * float(np.percentile(speed[region], 90)))).astype(np.uint8)
    core = cv2.morphologyEx(core, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(core)
    out = []
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < min_area:
            continue
        ys, xs = np.nonzero(labels == i)
        mask = np.zeros(region.shape, np.uint8)
        cv2.fillConvexPoly(mask, cv2.convexHull(np.stack([xs, ys], 1).astype(np.int32)), 1)
        out.append(mask.astype(bool) & region)
    return out or [region]
