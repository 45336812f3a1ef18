"""detect: detection, segmentation and tracking over kept clips into `detections` rows."""

from physflow.stages.detect.config import DetectConfig
from physflow.stages.detect.stage import DetectStage, run

__all__ = ["DetectConfig", "DetectStage", "run"]
