"""Analyze: one decode pass per video feeding shot detection and every per-frame quality measure."""

from physflow.stages.analyze.config import AnalyzeConfig
from physflow.stages.analyze.stage import AnalyzeStage, clip_id, run

__all__ = ["AnalyzeConfig", "AnalyzeStage", "clip_id", "run"]
