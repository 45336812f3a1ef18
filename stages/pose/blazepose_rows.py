"""BlazePose over one clip's sampled frames: per person and frame a `poses` row with COCO-17 keypoints derived
from the 33 landmarks, the landmarks themselves, world landmarks, the person mask and the hands."""

from __future__ import annotations

from typing import Any

import numpy as np

from physflow.stages.common.annotation import HANDS_ONLY, rle_encode
from physflow.stages.pose.config import PoseConfig

BLAZEPOSE = "blazepose"
LOOSE_HAND_BASE = 300_000


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
                        extra |= _hand_columns(hand, scale)
                out.append((index, person.track_id, person.box() * scale, kps, person.presence, extra))
        return out

    def loose_hands(self, indices: list[int], frames: list[np.ndarray], scale: float, people: list[tuple[Any, ...]],
                    stride: int) -> list[tuple[int, int, np.ndarray, np.ndarray, float, dict[str, Any]]]:
        """Hands without a body: every `stride`-th sampled frame where no person of `people` has a visible
        wrist, the palm detector over the whole frame; one row per hand (no body keypoints, source
        HANDS_ONLY), hands followed across frames by box overlap. Ids count from LOOSE_HAND_BASE."""
        from physflow.models.tracker import IouTracker

        if self.hands is None or stride <= 0:
            return []
        wrists = {p[0] for p in people if max(p[5]["landmarks"][15][3], p[5]["landmarks"][16][3]) >= 0.3}
        tracker, out = IouTracker(min_iou=0.1, max_gap=2), []
        for k, (index, frame) in enumerate(zip(indices, frames, strict=True)):
            if k % stride or index in wrists:
                continue
            hands = self.hands.in_frame(frame)
            boxes = np.array([np.concatenate([h.landmarks[:, :2].min(0), h.landmarks[:, :2].max(0)]) * scale
                              for h in hands]).reshape(-1, 4)
            for hand, box, tid in zip(hands, boxes, tracker.update(boxes, ["hand"] * len(hands)), strict=True):
                out.append((index, LOOSE_HAND_BASE + tid, box, np.zeros((17, 3)), hand.presence,
                            {"source": HANDS_ONLY, **_hand_columns(hand, scale)}))
        return out


def _hand_columns(hand: Any, scale: float) -> dict[str, Any]:
    """A hand's row columns: 21 landmarks (source px, presence) and world landmarks, under its side's names."""
    xy = np.concatenate([hand.landmarks[:, :2] * scale, np.full((len(hand.landmarks), 1), hand.presence)], 1)
    return {f"{hand.side}_hand": xy.tolist(), f"{hand.side}_hand_world": hand.world.tolist()}
