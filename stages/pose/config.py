from __future__ import annotations

from pydantic import Field

from physflow.stages.base import WeightsField
from physflow.stages.common.annotation import WeightsRef, YoloSettings


class PoseConfig(YoloSettings):
    yolo_pose: WeightsRef | None = Field(
        None, description="ultralytics -pose checkpoint (COCO-17); None: each clip gets a 'no pose model' row.")
    link_iou: float = Field(0.3, ge=0.0, le=1.0, description="Mean box IoU for a pose track to join a detection track.")

    def weights_fields(self) -> dict[str, WeightsField]:
        return {"yolo_pose": WeightsField(("yolo-pose",))}
