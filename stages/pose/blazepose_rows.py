"""BlazePose over one clip's sampled frames: per person and frame a `poses` row with COCO-17 keypoints derived
from the 33 landmarks, the landmarks themselves, world landmarks, the person mask and the hands."""

from __future__ import annotations

from typing import Any

import numpy as np

from physflow.stages.common.annotation import rle_encode
from physflow.stages.pose.config import PoseConfig

BLAZEPOSE = "blazepose"


class BlazePoseRunner:
    """The pose (and hand) models, loaded once per worker."""

    def __init__(self, config: PoseConfig):
        from physflow.models.blazepose import BlazePose
        from physflow.models.hands import HandLandmarker

        c = config
        assert c.blazepose_detector and c.blazepose_landmarks
        self.config = c
        self.pose = BlazePose(c.blazepose_detector.path, c.blazepose_landmarks.path, min_detection=c.min_detection,
                              min_presence=c.min_presence, max_people=c.max_people, threads=c.threads)
        self.hands = (HandLandmarker(c.palm_detector.path, c.hand_landmarks.path, threads=c.threads)
                      if c.hands and c.palm_detector and c.hand_landmarks else None)

    def people(self, indices: list[int], frames: list[np.ndarray], scale: float
               ) -> list[tuple[int, int, np.ndarray, np.ndarray, float, dict[str, Any]]]:
        """(frame, track, box, COCO-17 keypoints, score, extra columns) per person and frame, source pixels."""
        self.pose.reset()
        out = []
        for index, frame in zip(indices, frames, strict=True):
            for person in self.pose(frame, masks=self.config.masks):
                kps = person.coco17()
                kps[:, :2] *= scale
                landmarks = person.landmarks.copy()
                landmarks[:, :3] *= scale
                extra: dict[str, Any] = {
                    "landmarks": landmarks.tolist(), "world_landmarks": person.world.tolist(),
                    "mask_rle": rle_encode(person.mask) if person.mask is not None else None, "source": BLAZEPOSE,
                }
                if self.hands is not None:
                    for hand in self.hands(frame, person.landmarks):
                        xy = np.concatenate([hand.landmarks[:, :2] * scale,
                                             np.full((len(hand.landmarks), 1), hand.presence)], 1)
                        extra[f"{hand.side}_hand"] = xy.tolist()
                        extra[f"{hand.side}_hand_world"] = hand.world.tolist()
                out.append((index, person.track_id, person.box() * scale, kps, person.presence, extra))
        return out
