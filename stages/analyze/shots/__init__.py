"""Shots: shot boundaries (hard cuts and gradual transitions) and clip windows, on the shared decode."""

from physflow.stages.analyze.shots.config import ShotsConfig
from physflow.stages.analyze.shots.detect import Boundary, Segment, ShotDetector, classify, segments

__all__ = ["Boundary", "Segment", "ShotDetector", "ShotsConfig", "classify", "segments"]
