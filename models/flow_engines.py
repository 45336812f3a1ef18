"""Flow estimators behind one call: (B, H, W, 3) uint8 first and second frames -> (B, H, W, 2) float32 flow."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

import cv2
import numpy as np

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class FlowEngine(Protocol):
    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray: ...


class DisFlow:
    """OpenCV's Dense Inverse Search on grey frames (the embedded default: no weights)."""

    def __init__(self, preset: str = "medium"):
        if preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; known: {', '.join(DIS_PRESETS)}")
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])

    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        out = []
        for a, b in zip(first, second, strict=True):
            ga = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
            gb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
            out.append(self._dis.calc(ga, gb, None))
        return np.stack(out).astype(np.float32)


def pair_flows(frames: Iterable[np.ndarray], engine: FlowEngine, batch: int = 1) -> Iterator[np.ndarray]:
    """Flow of each consecutive frame pair, in order, holding at most `batch` + 1 frames at a time."""
    pending: list[np.ndarray] = []
    for frame in frames:
        pending.append(frame)
        if len(pending) == batch + 1:
            yield from engine(np.stack(pending[:-1]), np.stack(pending[1:]))
            pending = pending[-1:]
    if len(pending) > 1:
        yield from engine(np.stack(pending[:-1]), np.stack(pending[1:]))
