"""Shot boundaries from frames decoded once, and the clip windows between them.

PySceneDetect's ContentDetector (or AdaptiveDetector) runs on the frames the analysis pass already
decoded. Each boundary is then typed: a boundary whose luma jump is small and which sits on a luma
ramp of several frames reaching near-black (a fade out or in) is `gradual`; any other is a `hard` cut.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np
from scenedetect import AdaptiveDetector, ContentDetector
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
            self._det: ContentDetector | AdaptiveDetector = AdaptiveDetector(
                adaptive_threshold=config.adaptive_threshold, min_scene_len=min_len
            )
        else:
            self._det = ContentDetector(threshold=config.threshold, min_scene_len=min_len)
        self._cuts: list[int] = []
        self._luma: list[float] = []

    def feed(self, index: int, bgr: np.ndarray, luma: float) -> None:
        self._luma.append(luma)
        self._cuts += [tc.frame_num for tc in self._det.process_frame(FrameTimecode(index, self.fps), bgr)]

    def boundaries(self) -> list[Boundary]:
        n = len(self._luma)
        if n and isinstance(self._det, AdaptiveDetector):
            self._cuts += [tc.frame_num for tc in self._det.post_process(FrameTimecode(n, self.fps))]
        luma = np.asarray(self._luma, dtype=np.float64)
        cuts = sorted({c for c in self._cuts if 0 < c < n})
        return [Boundary(c, classify(luma, c, self.config)) for c in cuts]


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
