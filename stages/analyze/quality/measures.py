"""Per-frame quality measures, streamed over frames decoded once, and their per-clip aggregates.

- brightness: mean luma / 255;
- blur: variance of the Laplacian of the grey working frame area-averaged from the source (higher is sharper;
  bilinear reduction's aliasing would read as sharpness, more the larger the source);
- motion: OpenCV DIS optical flow (ultrafast preset) between consecutive grey frames at `flow_width`,
  per pair the mean and the 90th percentile of the magnitude divided by the frame diagonal, over the
  pixels with texture (Sobel gradient above `texture_min`);
- text area: MSER regions filtered as characters (size, aspect, extent, stroke-width variation from the
  distance transform) that line up with at least two neighbours, as in the MSER text-detection method
  (Chen et al. 2011, "Robust text detection in natural images with edge-enhanced MSER"); the area of
  their boxes over the frame area, on one keyframe every `text_every_s`;
- perceptual hash: pHash (DCT of the 32x32 grey frame, 8x8 low frequencies against their median), 64 bits;
- camera: the clip's camera class (static/pan/tilt/zoom/shaky) from the camera motion fitted to the same
  DIS flow fields (models/camera_motion.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from physflow.models.camera_motion import CameraMotion, classify, estimate
from physflow.stages.analyze.quality.config import QualityConfig


def phash(gray: np.ndarray) -> int:
    """64-bit pHash of a grey frame."""
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8].ravel()
    bits = low > np.median(low)
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def make_mser() -> cv2.MSER:
    """An MSER detector for text; one per thread (OpenCV feature objects are not thread-safe)."""
    return cv2.MSER_create(delta=5, min_area=8, max_area=4000)


def text_area(gray: np.ndarray, mser: cv2.MSER | None = None) -> float:
    """Fraction of the frame covered by boxes of MSER regions that look like lined-up characters."""
    h, w = gray.shape
    regions, boxes = (mser or make_mser()).detectRegions(gray)
    if not len(regions):
        return 0.0
    boxes = np.asarray(boxes, dtype=np.int32).reshape(-1, 4)
    shaped = np.flatnonzero(_char_shaped(regions, boxes, h))
    chars = boxes[shaped[_even_strokes([regions[i] for i in shaped], boxes[shaped])]]
    if not len(chars):
        return 0.0
    unique = np.unique(chars, axis=0)
    kept = unique[_neighbour_counts(unique) >= 2]
    if not len(kept):
        return 0.0
    mask = np.zeros((h, w), np.uint8)
    for x, y, bw, bh in kept:
        mask[y:y + bh, x:x + bw] = 1
    return float(mask.mean())


def _char_shaped(regions: Sequence[np.ndarray], boxes: np.ndarray, frame_h: int) -> np.ndarray:
    """Per region, whether its box has a character's height, aspect and fill (all regions at once)."""
    bw, bh = boxes[:, 2].astype(np.float64), boxes[:, 3].astype(np.float64)
    aspect = bw / bh
    extent = np.fromiter((len(p) for p in regions), np.float64, len(regions)) / (bw * bh)
    return ((0.02 * frame_h <= bh) & (bh <= 0.25 * frame_h) & (aspect >= 0.1) & (aspect <= 1.5)
            & (extent >= 0.2) & (extent <= 0.9))


def _even_strokes(regions: Sequence[np.ndarray], boxes: np.ndarray) -> np.ndarray:
    """Per region, whether its stroke width (distance to the region's edge) varies little, as in printed
    characters: std / mean of the distance over the region's pixels under 0.6.

    All regions in one distance transform: each region's box, with a ring of zeros around it, is stacked on one
    canvas. The nearest zero of a pixel is always within its own ring, so each pixel's distance is what a
    transform of its box alone gives (the 3x3 chamfer distance propagates only through neighbours)."""
    if not len(regions):
        return np.zeros(0, bool)
    heights = boxes[:, 3].astype(np.int64) + 2
    tops = np.concatenate([[0], np.cumsum(heights)[:-1]])
    counts = np.fromiter((len(p) for p in regions), np.int64, len(regions))
    owner = np.repeat(np.arange(len(regions)), counts)
    pts = np.concatenate(regions).astype(np.int64)
    rows = pts[:, 1] - boxes[owner, 1] + 1 + tops[owner]
    cols = pts[:, 0] - boxes[owner, 0] + 1
    canvas = np.zeros((int(heights.sum()), int(boxes[:, 2].max()) + 2), np.uint8)
    canvas[rows, cols] = 1
    dist = cv2.distanceTransform(canvas, cv2.DIST_L2, 3)[rows, cols].astype(np.float64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    mean = np.add.reduceat(dist, starts) / counts
    std = np.sqrt(np.maximum(np.add.reduceat(dist * dist, starts) / counts - mean * mean, 0.0))
    return std / mean < 0.6


def _neighbour_counts(boxes: np.ndarray) -> np.ndarray:
    """Per box (x, y, w, h), the boxes of similar height on the same line within two heights horizontally."""
    x, y, w, h = (boxes[:, i, None].astype(np.float32) for i in range(4))
    ratio = h.T / h
    gap = np.maximum(x.T - (x + w), x - (x.T + w.T))
    same_line = np.abs((y.T + h.T / 2) - (y + h / 2)) < 0.4 * h
    near = (ratio >= 0.66) & (ratio <= 1.5) & same_line & (gap < 2 * h)
    np.fill_diagonal(near, False)
    return near.sum(axis=1)


def _magnitude(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Vector length in float64 from IEEE basic operations, so the same vectors give the same bits anywhere.

    Not `cv2.magnitude`: the opencv-python wheels route it to IPP's ippsMagnitude_32f, whose float32 result
    differs by one ULP depending on how the output buffer happens to be aligned in memory; with several shards
    decoded concurrently in one process (the thread-pool runner) allocations land differently than in a
    single-threaded process, so the same video measured differently depending on the task runner.
    """
    return np.sqrt(np.square(x, dtype=np.float64) + np.square(y, dtype=np.float64))


def squared_bound(limit: float) -> int:
    """The largest whole number whose square root (float64, as `_magnitude` takes it) is at most `limit`: a
    gradient of whole-number components (a 3x3 Sobel of 8-bit pixels, exact in float32: at most 1020 each, their
    squares' sum under 2**21) is longer than `limit` exactly when its squared length exceeds this, so the texture
    test needs no square roots and gives the same pixels."""
    bound = math.floor(limit * limit)
    while math.sqrt(bound + 1) <= limit:
        bound += 1
    while bound > 0 and math.sqrt(bound) > limit:
        bound -= 1
    return bound


@dataclass
class FrameMeasures:
    """Collects per-frame measures; `clip(start, end)` aggregates a frame range.

    Luma (for brightness and the shot detector's fade test) is read on every frame; blur, pHash, motion and
    camera on the sampled frames (`sample_fps`; motion from the pair ending at a sampled frame); text on its
    own keyframes. A clip with no sampled frame inside borrows the nearest one.
    """

    config: QualityConfig
    fps: float
    luma: list[float] = field(default_factory=list)
    blur: dict[int, float] = field(default_factory=dict)
    motion: dict[int, tuple[float, float]] = field(default_factory=dict)  # pair (i-1, i) -> (mean, p90)
    hashes: dict[int, int] = field(default_factory=dict)
    text: dict[int, float] = field(default_factory=dict)
    camera: dict[int, CameraMotion] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._mser = make_mser()
        self._prev_gray: np.ndarray | None = None
        self._prev_small: tuple[int, np.ndarray] | None = None
        self._flow_size: tuple[int, int] = (1, 1)
        self._text_step = max(1, round(self.config.text_every_s * self.fps))
        rate = self.config.sample_fps
        self._step = max(1, round(self.fps / rate)) if rate else 1
        self._texture_sq = squared_bound(self.config.texture_min)

    def reads_detail(self, index: int) -> bool:
        """Whether frame `index` is measured for sharpness: `feed` then wants its `detail` frame."""
        return index % self._step == 0

    def feed(self, index: int, gray: np.ndarray, detail: np.ndarray | None = None) -> float:
        """Measure one frame (frames come in order from 0); returns its mean luma (0-255). `detail` is the same
        grey frame area-averaged from the source (`video_io.detail_luma`; else `gray` serves), which blur reads."""
        luma = cv2.sumElems(gray)[0] / gray.size  # the exact sum over the count, as numpy's mean: 1 µs, not 18
        self.luma.append(luma / 255.0)
        if index % self._text_step == self._text_step // 2:
            self.text[index] = text_area(gray, self._mser)
        if index % self._step == 0:
            sharp = gray if detail is None else detail
            self.blur[index] = float(cv2.Laplacian(sharp, cv2.CV_32F).var())
            self.hashes[index] = phash(gray)
            if self._prev_gray is not None and index % self.config.flow_every == 0:
                self.motion[index] = self._motion(index, self._small(index - 1, self._prev_gray),
                                                  self._small(index, gray))
        self._prev_gray = gray
        return luma

    def _small(self, index: int, gray: np.ndarray) -> np.ndarray:
        """`gray` at the flow width on its longer side (the last one is kept: at full rate each frame is resized
        once)."""
        if self._prev_small is not None and self._prev_small[0] == index:
            return self._prev_small[1]
        h, w = gray.shape
        scale = min(1.0, self.config.flow_width / max(h, w))  # the longer side at flow_width, never up
        small = cv2.resize(gray, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
        self._prev_small = (index, small)
        self._flow_size = small.shape
        return small

    def _motion(self, index: int, prev: np.ndarray, small: np.ndarray) -> tuple[float, float]:
        """DIS flow from the previous frame, measured where the previous frame has texture (flow elsewhere is
        noise: a blank wall yields random vectors); a frame with almost no texture has no measurable motion."""
        gx = cv2.Sobel(prev, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(prev, cv2.CV_32F, 0, 1, ksize=3)
        textured = cv2.multiply(gx, gx) + cv2.multiply(gy, gy) > self._texture_sq
        if textured.mean() < 0.01:
            return 0.0, 0.0
        flow = self._dis.calc(prev, small, None)
        self.camera[index] = estimate(flow)
        mag = _magnitude(flow[..., 0][textured], flow[..., 1][textured]) / math.hypot(*small.shape)
        return float(mag.mean()), float(np.percentile(mag, 90))

    def clip(self, start: int, end: int) -> dict[str, object]:
        """Aggregates over frames [start, end): quality columns of a `clips` row."""
        # At full rate a clip without pairs (one frame) has no motion, as it always had; sampled, it borrows.
        pairs = _within(self.motion, start + 1, end) if self._step > 1 else [i for i in self.motion if start < i < end]
        motion_mean = float(np.mean([self.motion[i][0] for i in pairs])) if pairs else 0.0
        motion_p90 = float(np.mean([self.motion[i][1] for i in pairs])) if pairs else 0.0
        texts = [a for i, a in self.text.items() if start <= i < end]
        k = self.config.hash_keyframes
        keyframes = [min(end - 1, start + int((j + 0.5) * (end - start) / k)) for j in range(k)]
        return {
            "brightness": float(np.mean(self.luma[start:end])),
            "blur": float(np.median([self.blur[i] for i in _within(self.blur, start, end)])),
            "motion_mean": motion_mean,
            "motion_p90": motion_p90,
            "static": motion_p90 < self.config.static_p90,
            "text_area": max(texts) if texts else None,
            "phash": "-".join(f"{self.hashes[_nearest(self.hashes, i)]:016x}" for i in keyframes),
            "camera": classify([self.camera[i] for i in sorted(self.camera) if start < i < end], self._flow_size),
        }


def _within(values: dict[int, object], start: int, end: int) -> list[int]:
    """The measured frames in [start, end), or the one nearest its middle when none falls inside."""
    inside = [i for i in values if start <= i < end]
    return inside or ([_nearest(values, (start + end) // 2)] if values else [])


def _nearest(values: dict[int, object], index: int) -> int:
    return min(values, key=lambda i: (abs(i - index), i))
