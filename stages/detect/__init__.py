"""detect: detection, segmentation and tracking over kept clips into `detections` rows."""

from stages.detect.config import DetectConfig
from stages.detect.stage import DetectStage, run

__all__ = ["DetectConfig", "DetectStage", "run"]
