"""Shots: shot boundaries (hard cuts and gradual transitions) and clip windows, on the shared decode."""

from stages.shots.config import ShotsConfig
from stages.shots.detect import Boundary, Segment, ShotDetector, classify, segments

__all__ = ["Boundary", "Segment", "ShotDetector", "ShotsConfig", "classify", "segments"]
