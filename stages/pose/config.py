from __future__ import annotations

from pydantic import Field

from stages.annotation import FrameSampling, WeightsRef
from stages.base import StageConfig


class PoseConfig(StageConfig):
    sampling: FrameSampling = Field(default_factory=FrameSampling, description="Frames to annotate per clip.")
    yolo_pose: WeightsRef | None = Field(
        None, description="ultralytics -pose checkpoint (COCO-17); None: each clip gets a 'no pose model' row.")
    conf: float = Field(0.25, ge=0.0, le=1.0, description="Minimum person box confidence.")
    iou: float = Field(0.7, ge=0.05, le=1.0, description="NMS IoU threshold.")
    imgsz: int = Field(640, ge=32, le=2048, multiple_of=32, description="Inference size in pixels.")
    max_det: int = Field(100, ge=1, le=1000, description="Most boxes kept per frame.")
    batch: int = Field(8, ge=1, le=256, description="Frames per forward pass.")
    device: str | None = Field(None, pattern=r"^(cpu|cuda(:\d+)?|mps)$", description="torch device; None = auto.")
    link_iou: float = Field(0.3, ge=0.0, le=1.0, description="Mean box IoU for a pose track to join a detection track.")
