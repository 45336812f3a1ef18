from __future__ import annotations

from typing import Literal

from pydantic import Field

from physflow.stages.base import WeightsField
from physflow.stages.common.annotation import WeightsRef, YoloSettings


class DetectConfig(YoloSettings):
    yolo: WeightsRef | None = Field(
        None, description="ultralytics detection or -seg checkpoint; None uses the embedded `fallback`.")
    fallback: Literal["flow", "hog+mog2"] = Field(
        "flow", description="Without YOLO: 'flow' = moving objects from camera-compensated optical flow, one track "
        "per object (people come from the pose stage); 'hog+mog2' = OpenCV HOG people plus MOG2 motion blobs.")
    min_person_score: float = Field(0.3, ge=-5.0, le=5.0, description="Fallback: minimum HOG SVM score of a person.")
    min_blob_area: float = Field(0.002, gt=0.0, le=0.5, description="Fallback: smallest moving object, as a frame fraction.")
    motion_px: float = Field(0.8, gt=0.0, le=100.0, description="flow: least residual speed of a moving pixel, px/frame.")

    def weights_fields(self) -> dict[str, WeightsField]:
        return {"yolo": WeightsField(("yolo-seg", "yolo-detect"))}
