"""Object tracks for physics metrics: by colour segmentation (PhyWorld's method) or from a detections table.

A colour track is one hue class: saturated pixels are grouped into hue classes over the whole clip, and
in each frame the largest connected blob of a class gives a soft-weighted centroid and an equivalent
radius sqrt(area / pi). Edge pixels count in proportion to their saturation, so anti-aliased edges give
sub-pixel centroids. Frames where a class has no blob are missing from its track.

An observation whose blob or box touches the frame border is marked `cut`: part of the object is outside, so
its centre and size are biased. Measures of position, size and velocity use whole observations only; cut ones
still tell that the object was there (entering or leaving through the border).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from physflow.stages.common.annotation import rle_decode

# detection classes that move by themselves (COCO names): no outside cause needed for their rests or turns
ANIMATE = frozenset({"person", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"})


@dataclass
class Track:
    """One object over time: frames where it was seen, centre (px) and equivalent radius (px) there."""

    label: str
    hue: float | None
    frames: np.ndarray  # (n,) int
    pos: np.ndarray  # (n, 2) px, pixel centres at integer coordinates
    radius: np.ndarray  # (n,) px
    cut: np.ndarray | None = None  # (n,) bool: touches the frame border; None: none is
    half_height: np.ndarray | None = None  # (n,) px from the centre to the bottom; None: the radius
    animate: bool = False  # a person or an animal: moves itself, so rests and velocity changes need no cause

    @property
    def is_cut(self) -> np.ndarray:
        return np.zeros(len(self.frames), bool) if self.cut is None else self.cut

    @property
    def bottom(self) -> np.ndarray:
        """Image y of the object's lowest point at each observation (px)."""
        return self.pos[:, 1] + (self.radius if self.half_height is None else self.half_height)

    def whole(self) -> Track:
        """The observations not cut by the frame border."""
        keep = ~self.is_cut
        hh = None if self.half_height is None else self.half_height[keep]
        return Track(self.label, self.hue, self.frames[keep], self.pos[keep], self.radius[keep], None, hh, self.animate)


def _hue_classes(hues: np.ndarray, min_pixels: int, gap: int) -> list[tuple[int, int]]:
    """Hue ranges [lo, hi] (OpenCV 0-179, may wrap) separated by at least `gap` empty bins."""
    hist = np.bincount(hues, minlength=180)
    # a bin counts when it holds a visible share of all saturated pixels: the few blended pixels where two
    # touching objects meet must not bridge their hues
    occupied = hist >= max(1, min_pixels // 20, 0.003 * hues.size)
    if not occupied.any():
        return []
    if occupied.all():
        return [(0, 179)]
    start = int(np.argmin(occupied))  # an empty bin: walk the circle from there
    runs: list[list[int]] = []
    empty = gap
    for k in range(180):
        b = (start + k) % 180
        if occupied[b]:
            if empty >= gap or not runs:
                runs.append([b, b])
            runs[-1][1] = b
            empty = 0
        else:
            empty += 1
    classes = [(lo, hi) for lo, hi in runs if _count(hist, lo, hi) >= min_pixels]
    return _merge_fringes(hist, classes)


def _count(hist: np.ndarray, lo: int, hi: int) -> int:
    return int(hist[np.arange(lo, lo + (hi - lo) % 180 + 1) % 180].sum())


def _merge_fringes(hist: np.ndarray, classes: list[tuple[int, int]], reach: int = 16) -> list[tuple[int, int]]:
    """Fold a class into a neighbour within `reach` hue steps that has over 6x its pixels: the fringe where an
    object's edge blends with a tinted background or floor, not an object of its own."""
    classes = sorted(classes, key=lambda c: _count(hist, *c))
    merged = True
    while merged and len(classes) > 1:
        merged = False
        for a, (lo, hi) in enumerate(classes):
            for b, (lo2, hi2) in enumerate(classes):
                near = min((lo2 - hi) % 180, (lo - hi2) % 180) <= reach
                if b != a and near and _count(hist, lo2, hi2) > 6 * _count(hist, lo, hi):
                    # the union runs from the start of one to the end of the other, the short way round
                    union = (lo2, hi) if (lo - hi2) % 180 <= reach else (lo, hi2)
                    classes = [c for k, c in enumerate(classes) if k not in (a, b)] + [union]
                    merged = True
                    break
            if merged:
                break
    return classes


def _in_range(h: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return (h >= lo) & (h <= hi) if lo <= hi else (h >= lo) | (h <= hi)


def _measure(weight: np.ndarray, binary: np.ndarray, min_area: int) -> tuple[float, float, float, bool] | None:
    """Centroid and equivalent radius of the largest blob of `binary`, weighted by `weight` near it, and whether
    the blob (with its anti-aliased fringe) touches the frame border."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    if n <= 1:
        return None
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[k, cv2.CC_STAT_AREA] < min_area:
        return None
    support = cv2.dilate((labels == k).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    w = np.where(support, weight, 0.0)
    total = float(w.sum())
    ys, xs = np.indices(w.shape)
    x, y, bw, bh = stats[k, :4]
    h, wd = binary.shape
    # the centroid's support reaches 2 px past the blob (its dilation): within that of the edge, it is clipped
    cut = bool(x <= 3 or y <= 3 or x + bw >= wd - 3 or y + bh >= h - 3)
    return float((w * xs).sum() / total), float((w * ys).sum() / total), float(np.sqrt(total / np.pi)), cut


def color_tracks(
    frames: np.ndarray | Iterable[np.ndarray],
    *,
    min_saturation: int = 90,
    min_value: int = 40,
    min_area: int = 6,
    hue_gap: int = 3,
) -> list[Track]:
    """Tracks of saturated, distinctly coloured objects in RGB frames (T x H x W x 3 uint8)."""
    hsv = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2HSV) for f in frames]
    if not hsv:
        return []
    fg = [(x[..., 1] >= min_saturation) & (x[..., 2] >= min_value) for x in hsv]
    hues = np.concatenate([x[..., 0][m] for x, m in zip(hsv, fg, strict=True)]).astype(np.int64)
    floor = 0.6 * min_saturation
    tracks = []
    for lo, hi in _hue_classes(hues, min_pixels=min_area * 2, gap=hue_gap):
        found: list[tuple[int, float, float, float, bool]] = []
        for t, (x, m) in enumerate(zip(hsv, fg, strict=True)):
            in_class = _in_range(x[..., 0], lo, hi)
            weight = np.clip((x[..., 1].astype(np.float64) - floor) / (min_saturation * 1.5 - floor), 0, 1)
            weight *= in_class & (x[..., 2] >= min_value)
            got = _measure(weight, m & in_class, min_area)
            if got is not None:
                found.append((t, *got))
        if len(found) >= 2:
            arr = np.array(found, dtype=np.float64)
            centre = (lo + ((hi - lo) % 180) / 2) % 180
            tracks.append(Track(f"hue{int(centre)}", float(centre), arr[:, 0].astype(int), arr[:, 1:3], arr[:, 3],
                                arr[:, 4].astype(bool)))
    return tracks


def _mask_centre(text: str, shape: tuple[int, int]) -> tuple[tuple[float, float, float, float], bool] | None:
    """(centre x, y, equivalent radius, half height) of a mask in frame pixels of `shape`, and whether it touches
    the edge; None for an empty mask."""
    mask = rle_decode(text)
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    h, w = mask.shape
    sx, sy = shape[1] / w, shape[0] / h  # mask pixel centres map to frame pixel centres
    cx, cy = (xs.mean() + 0.5) * sx - 0.5, (ys.mean() + 0.5) * sy - 0.5
    radius = float(np.sqrt(len(xs) * sx * sy / np.pi))
    bottom = (ys.max() + 1) * sy - 0.5
    cut = bool(xs.min() <= 0 or ys.min() <= 0 or xs.max() >= w - 1 or ys.max() >= h - 1)
    return (float(cx), float(cy), radius, float(bottom - cy)), cut


def tracks_from_detections(
    rows: Iterable[Mapping[str, Any]],
    *,
    start_frame: int = 0,
    shape: tuple[int, int] | None = None,
    classes: Iterable[str] | None = None,
    border_px: float = 2.0,
    scale: float = 1.0,
    use_masks: bool = True,
) -> list[Track]:
    """Tracks from `detections` rows (frame, track_id, cls, box x1,y1,x2,y2, mask_rle): box centres, radius =
    (w + h) / 4, the box bottom. With the frame `shape` (H, W), a box within `border_px` of the edge is cut, and a
    row's mask (any working size) gives the centre, equivalent radius and bottom instead, cut when it touches the
    edge. `classes` keeps only those classes; `scale` multiplies box coordinates (detections at another width)."""
    keep = None if classes is None else set(classes)
    by_id: dict[int, list[tuple[float, ...]]] = {}
    labels: dict[int, str] = {}
    classes_of: dict[int, set[str]] = {}
    for row in rows:
        if row.get("error") or row.get("box") is None or row.get("track_id") is None:
            continue
        if keep is not None and row.get("cls") not in keep:
            continue
        x1, y1, x2, y2 = (scale * float(v) for v in row["box"])
        cut = shape is not None and (min(x1, y1) <= border_px or x2 >= shape[1] - 1 - border_px
                                     or y2 >= shape[0] - 1 - border_px)
        centre = ((x1 + x2) / 2, (y1 + y2) / 2, ((x2 - x1) + (y2 - y1)) / 4, (y2 - y1) / 2)
        if use_masks and row.get("mask_rle") and shape is not None:
            centre, cut = _mask_centre(row["mask_rle"], shape) or (centre, cut)
        tid = int(row["track_id"])
        labels[tid] = f"track{tid}" + (f":{row['cls']}" if row.get("cls") else "")
        classes_of.setdefault(tid, set()).add(str(row.get("cls")))
        by_id.setdefault(tid, []).append(
            (int(row["frame"]) - start_frame, centre[0], centre[1], centre[2], float(cut), centre[3])
        )
    tracks = []
    for tid, items in sorted(by_id.items()):
        arr = np.array(sorted(items))
        _, first = np.unique(arr[:, 0], return_index=True)  # one box per frame and track
        arr = arr[first]
        tracks.append(Track(labels[tid], None, arr[:, 0].astype(int), arr[:, 1:3], arr[:, 3], arr[:, 4] > 0, arr[:, 5],
                            classes_of[tid] & ANIMATE != set()))
    return tracks
