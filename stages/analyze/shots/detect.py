"""Shot boundaries from frames decoded once, and the clip windows between them.

The content detector (`ContentCuts`: PySceneDetect's ContentDetector rule, in OpenCV calls) or PySceneDetect's
AdaptiveDetector runs on the frames the analysis pass already decoded. Each boundary is then typed: a boundary
whose luma jump is small and which sits on a luma ramp of several frames reaching near-black (a fade out or in)
is `gradual`; any other is a `hard` cut.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np
from scenedetect import AdaptiveDetector
from scenedetect.common import FrameTimecode

from physflow.stages.analyze.shots.config import ShotsConfig

HARD, GRADUAL, START, WINDOW = "hard", "gradual", "start", "window"


@dataclass(frozen=True)
class Boundary:
    frame: int  # first frame of the new shot
    kind: str  # hard | gradual


@dataclass(frozen=True)
class Segment:
    start: int  # first frame
    end: int  # one past the last frame
    shot_index: int
    boundary: str  # what starts it: start | hard | gradual | window


class ShotDetector:
    """Feed BGR frames in order; `boundaries()` at the end."""

    def __init__(self, config: ShotsConfig, fps: float):
        self.config = config
        self.fps = fps
        min_len = max(1, round(config.min_shot_s * fps))
        if config.detector == "adaptive":
            self._det: ContentCuts | AdaptiveDetector = AdaptiveDetector(
                adaptive_threshold=config.adaptive_threshold, min_scene_len=min_len
            )
        else:
            self._det = ContentCuts(config.threshold, min_len)
        self._cuts: list[int] = []
        self._luma: list[float] = []

    def feed(self, index: int, bgr: np.ndarray, luma: float) -> None:
        self._luma.append(luma)
        if isinstance(self._det, ContentCuts):
            self._cuts += self._det.feed(index, bgr)
        else:
            self._cuts += [tc.frame_num for tc in self._det.process_frame(FrameTimecode(index, self.fps), bgr)]

    def boundaries(self) -> list[Boundary]:
        n = len(self._luma)
        if n and isinstance(self._det, AdaptiveDetector):
            self._cuts += [tc.frame_num for tc in self._det.post_process(FrameTimecode(n, self.fps))]
        luma = np.asarray(self._luma, dtype=np.float64)
        cuts = sorted({c for c in self._cuts if 0 < c < n})
        return [Boundary(c, classify(luma, c, self.config)) for c in cuts]


class ContentCuts:
    """Cuts where the mean change of a frame's HSV pixels from the last frame's (hue, saturation and value weighed
    alike, 0-255) reaches `threshold`, at least `min_len` frames apart: PySceneDetect's ContentDetector (its
    default weights, `min_scene_len` in frames) and its flash filter in merge mode, the same cuts from the same
    scores (`tests/stages/analyze/test_shots.py`), in two OpenCV calls a frame and integer frame numbers instead of
    NumPy passes over each channel and a timecode object a frame (on the 128 px frames the analysis compares: 0.02
    against 0.07 ms a frame). Its own, so the cuts do not move with a PySceneDetect release.

    Flash filter, merge mode: a cut closer than `min_len` to the last frame over the threshold (a flash, a burst
    of fast changes) starts a merge, once a first cut was found; the merge ends, with one cut at its last frame
    over the threshold, at the first frame under it that lies `min_len` past that frame, when that frame lies
    `min_len` past the merge's start."""

    WEIGHTS = (1.0, 1.0, 1.0)  # hue, saturation, value

    def __init__(self, threshold: float, min_len: int):
        self.threshold = threshold
        self.min_len = int(min_len)
        self._last: np.ndarray | None = None  # the last frame's HSV pixels
        self._last_above: int | None = None  # the last frame over the threshold
        self._merge_enabled = False  # a cut was found: later ones too close merge
        self._merge_start: int | None = None  # a merge's first frame, while one is on

    def score(self, bgr: np.ndarray) -> float:
        """The mean HSV change from the last frame fed (0.0 for the first), in ContentDetector's arithmetic: each
        channel's sum of absolute differences over the pixel count, weighed, over the weights' sum."""
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
        last, self._last = self._last, hsv
        if last is None:
            return 0.0
        pixels = float(hsv.shape[0] * hsv.shape[1])
        sums = cv2.sumElems(cv2.absdiff(hsv, last))[:3]  # exact integer sums, as doubles
        return sum(total / pixels * weight for total, weight in zip(sums, self.WEIGHTS, strict=True)) / sum(
            abs(weight) for weight in self.WEIGHTS)

    def feed(self, index: int, bgr: np.ndarray) -> list[int]:
        """The cuts that frame `index` (frames come in order) settles: none, or one (which may lie before it)."""
        above = self.score(bgr) >= self.threshold
        if self.min_len <= 0:
            return [index] if above else []
        if self._last_above is None:
            self._last_above = index
        far = index - self._last_above >= self.min_len
        if above:
            self._last_above = index
        if self._merge_start is not None:
            if far and not above and self._last_above - self._merge_start >= self.min_len:
                self._merge_start = None
                return [self._last_above]
            return []
        if not above:
            return []
        if far:
            self._merge_enabled = True
            return [index]
        if self._merge_enabled:
            self._merge_start = index
        return []


def shots_frame(bgr: np.ndarray, width: int) -> np.ndarray:
    """The frame shot detection compares: `bgr` area-averaged down to `width` px on its longer side (aspect kept;
    never up)."""
    h, w = bgr.shape[:2]
    if max(h, w) <= width:
        return bgr
    scale = width / max(h, w)
    return cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _ramp(steps: np.ndarray, frames: int) -> bool:
    """Monotone change over `frames` consecutive steps, each at least half a luma level."""
    return len(steps) >= frames and (bool(np.all(steps > 0.5)) or bool(np.all(steps < -0.5)))


def classify(luma: np.ndarray, cut: int, config: ShotsConfig) -> str:
    """`gradual` when the jump at `cut` is small and the luma ramps to or from black beside it, else `hard`."""
    k = config.fade_frames
    if abs(luma[cut] - luma[cut - 1]) >= config.fade_step:
        return HARD
    if luma[max(0, cut - k - 1):cut + k + 1].min() >= config.black_luma:
        return HARD
    right = np.diff(luma[cut:cut + k + 1])
    left = np.diff(luma[max(0, cut - k - 1):cut])
    return GRADUAL if _ramp(right, k) or _ramp(left, k) else HARD


def segments(boundaries: list[Boundary], n_frames: int, fps: float, config: ShotsConfig) -> list[Segment]:
    """Shots between boundaries; shots longer than max_clip_s split into equal windows within bounds."""
    edges = [Boundary(0, START), *boundaries]
    out: list[Segment] = []
    for shot, (b, nxt) in enumerate(zip(edges, [*edges[1:], Boundary(n_frames, "")], strict=True)):
        length = nxt.frame - b.frame
        if length <= 0:
            continue
        parts = max(1, math.ceil(length / fps / config.max_clip_s)) if fps > 0 else 1
        cuts = [b.frame + round(i * length / parts) for i in range(parts + 1)]
        for i, (s, e) in enumerate(itertools.pairwise(cuts)):
            out.append(Segment(s, e, shot, b.kind if i == 0 else WINDOW))
    return out
