"""Caption: one caption per kept clip, from a sidecar file, from physflow's measures, or from a VLM."""

from physflow.stages.caption.config import CaptionConfig
from physflow.stages.caption.measures import ClipMeasures, TrackMeasure, compose
from physflow.stages.caption.stage import CaptionStage, run

__all__ = ["CaptionConfig", "CaptionStage", "ClipMeasures", "TrackMeasure", "compose", "run"]
