from __future__ import annotations

from pydantic import Field

from physflow.stages.base import WeightsField
from physflow.stages.common.annotation import WeightsRef, YoloSettings


class DetectConfig(YoloSettings):
    yolo: WeightsRef | None = Field(
        None, description="ultralytics detection or -seg checkpoint; None uses the HOG + motion-blob fallback.")
    min_person_score: float = Field(0.3, ge=-5.0, le=5.0, description="Fallback: minimum HOG SVM score of a person.")
    min_blob_area: float = Field(0.002, gt=0.0, le=0.5, description="Fallback: smallest motion blob, as a frame fraction.")

    def weights_fields(self) -> dict[str, WeightsField]:
        return {"yolo": WeightsField(("yolo-seg", "yolo-detect"))}
