from __future__ import annotations

from typing import Literal

from pydantic import Field

from physflow.stages.base import WeightsField
from physflow.stages.common.annotation import WeightsRef, YoloSettings


class PoseConfig(YoloSettings):
    backend: Literal["auto", "blazepose", "yolo"] = Field(
        "auto", description="auto: BlazePose when its files are registered, else YOLO-pose, else a 'no pose' row.")
    yolo_pose: WeightsRef | None = Field(
        None, description="ultralytics -pose checkpoint (COCO-17); None: each clip gets a 'no pose model' row.")
    blazepose_detector: WeightsRef | None = Field(None, description="BlazePose person detector (TFLite).")
    blazepose_landmarks: WeightsRef | None = Field(None, description="BlazePose full landmark model (TFLite).")
    palm_detector: WeightsRef | None = Field(None, description="Palm detector (TFLite); None: no hands.")
    hand_landmarks: WeightsRef | None = Field(None, description="Hand landmark model (TFLite); None: no hands.")
    hands: bool = Field(True, description="BlazePose: find each person's hands from their wrists.")
    masks: bool = Field(True, description="BlazePose: store each person's segmentation mask (RLE).")
    max_people: int = Field(4, ge=1, le=64, description="BlazePose: most people followed per clip at once.")
    min_detection: float = Field(
        0.3, ge=0.0, le=1.0, description="BlazePose: minimum person-detector score (the landmark model's presence "
        "then confirms each person).")
    min_presence: float = Field(0.5, ge=0.0, le=1.0, description="BlazePose: minimum pose presence to keep a person.")
    threads: int = Field(1, ge=1, le=64, description="BlazePose: TFLite CPU threads.")
    # Defaults measured on real clips (benchmarks/pose_tracks.py): whole people's tracks there are 16-48 of 48
    # frames with mean confidence 0.76-0.99; partial bodies (hands from above, a forearm) 1-14 frames, 0.54-0.84.
    min_track_frames: int = Field(
        8, ge=1, le=10_000, description="Pose tracks with fewer sampled frames are dropped (partial bodies found and "
        "lost again); a clip with fewer sampled frames than this needs a track over all of them.")
    min_track_visibility: float = Field(
        0.5, ge=0.0, le=1.0, description="Pose tracks whose mean COCO-17 keypoint confidence is lower are dropped.")
    loose_hands_stride: int = Field(
        4, ge=0, le=1000, description="BlazePose with hands: every n-th sampled frame where no kept person shows a "
        "wrist, look for hands over the whole frame (rows of hands without a body); 0 = never.")
    link_iou: float = Field(0.3, ge=0.0, le=1.0, description="Mean box IoU for a pose track to join a detection track.")

    def weights_fields(self) -> dict[str, WeightsField]:
        yolo = {"yolo_pose": WeightsField(("yolo-pose",), required=self.backend == "yolo")}
        blaze = {name: WeightsField((name.replace("_", "-"),), required=self.backend == "blazepose")
                 for name in ("blazepose_detector", "blazepose_landmarks")}
        hands = {name: WeightsField((name.replace("_", "-"),)) for name in ("palm_detector", "hand_landmarks")}
        if self.backend == "yolo":
            return yolo
        return {**yolo, **blaze, **(hands if self.hands else {})} if self.backend == "auto" else {**blaze, **hands}

