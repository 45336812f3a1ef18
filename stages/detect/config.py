from __future__ import annotations

from pydantic import Field

from stages.annotation import FrameSampling, WeightsRef
from stages.base import StageConfig


class DetectConfig(StageConfig):
    sampling: FrameSampling = Field(default_factory=FrameSampling, description="Frames to annotate per clip.")
    yolo: WeightsRef | None = Field(
        None, description="ultralytics detection or -seg checkpoint; None uses the HOG + motion-blob fallback.")
    conf: float = Field(0.25, ge=0.0, le=1.0, description="YOLO: minimum box confidence.")
    iou: float = Field(0.7, ge=0.05, le=1.0, description="YOLO: NMS IoU threshold.")
    imgsz: int = Field(640, ge=32, le=2048, multiple_of=32, description="YOLO: inference size in pixels.")
    max_det: int = Field(100, ge=1, le=1000, description="Most boxes kept per frame.")
    batch: int = Field(8, ge=1, le=256, description="YOLO: frames per forward pass.")
    device: str | None = Field(None, pattern=r"^(cpu|cuda(:\d+)?|mps)$", description="torch device; None = auto.")
    min_person_score: float = Field(0.3, ge=-5.0, le=5.0, description="Fallback: minimum HOG SVM score of a person.")
    min_blob_area: float = Field(0.002, gt=0.0, le=0.5, description="Fallback: smallest motion blob, as a frame fraction.")
