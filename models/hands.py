"""Hands from the pose's wrists (Google's palm detector and hand landmark model, Apache-2.0 TFLite files).

Per visible wrist of a person: a square around the hand the pose predicts (wrist, index and pinky
landmarks), the palm detector (192x192, inputs in [0, 1]) inside it, and the hand landmark model (224x224
rotated crop) on the palm's region: 21 landmarks, 21 world landmarks in metres, a presence score and the
model's handedness score. The side (left / right) is the pose's, which does not depend on mirroring.
Where the palm detector finds nothing the landmark model runs on the pose's own hand region.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from physflow.models.blazepose import LEFT_INDEX, LEFT_PINKY, LEFT_WRIST, RIGHT_INDEX, RIGHT_PINKY, RIGHT_WRIST
from physflow.models.mediapipe_ops import Roi, TfliteModel, detect, detect_in, sigmoid, ssd_anchors

N_HAND = 21
PALM_SCALE, PALM_SHIFT = 2.6, -0.5  # palm box -> hand crop: 2.6 x its side, half a side towards the fingers
POSE_HAND_SCALE, POSE_HAND_SHIFT = 2.7, -0.1  # pose's hand estimate -> crop
SIDES = {"left": (LEFT_WRIST, LEFT_INDEX, LEFT_PINKY), "right": (RIGHT_WRIST, RIGHT_INDEX, RIGHT_PINKY)}


@dataclass
class Hand:
    side: str  # "left" / "right": the person's own side, from the pose
    landmarks: np.ndarray  # (21, 3) x, y (frame px), z (px, relative to the wrist)
    world: np.ndarray  # (21, 3) metres, image axes
    presence: float
    handedness: float  # the model's score that this is a right hand as seen in a mirrored (selfie) image
    from_palm: bool  # True: the palm detector placed the crop; False: the pose's own hand estimate


class HandLandmarker:
    def __init__(self, palm_path: str, landmarks_path: str, *, min_palm: float = 0.4, min_presence: float = 0.5,
                 min_wrist_visibility: float = 0.3, threads: int = 1):
        self.palm = TfliteModel(palm_path, threads)
        self.model = TfliteModel(landmarks_path, threads)
        self.anchors = ssd_anchors(self.palm.size, [8, 16, 16, 16])
        self.min_palm, self.min_presence, self.min_wrist = min_palm, min_presence, min_wrist_visibility

    def __call__(self, image: np.ndarray, pose_landmarks: np.ndarray) -> list[Hand]:
        """image (H, W, 3) RGB uint8, one person's (33, 4) pose landmarks -> their visible hands."""
        hands = []
        for side, (wrist_i, index_i, pinky_i) in SIDES.items():
            wrist = pose_landmarks[wrist_i, :2]
            if pose_landmarks[wrist_i, 3] < self.min_wrist:
                continue
            middle = (2 * pose_landmarks[index_i, :2] + pose_landmarks[pinky_i, :2]) / 3
            if np.hypot(*(middle - wrist)) < 2.0:
                continue
            pose_roi = Roi.aligned(middle, middle + (middle - wrist), POSE_HAND_SCALE)
            pose_roi = pose_roi.shifted(POSE_HAND_SHIFT * pose_roi.side)
            hand = self._from_palm(image, pose_roi, wrist, side) or self._landmarks(image, pose_roi, side, False)
            if hand is not None:
                hands.append(hand)
        return hands

    def in_frame(self, image: np.ndarray, max_hands: int = 4) -> list[Hand]:
        """Hands anywhere in the frame, without a body: the palm detector on the whole (letterboxed) frame, the
        landmark model on each palm. The side comes from the model's handedness, which assumes a mirrored
        (selfie) image: on an ordinary frame its "right" is the person's left hand."""
        palms = sorted(detect(self.palm, self.anchors, image, self.min_palm, signed=False), key=lambda d: -d.score)
        hands: list[Hand] = []
        for palm in palms[:max_hands]:
            roi = Roi.from_box(palm.box, palm.keypoints[0], palm.keypoints[2], PALM_SCALE, PALM_SHIFT)
            hand = self._landmarks(image, roi, "", True)
            if hand is not None:
                hands.append(replace(hand, side="left" if hand.handedness > 0.5 else "right"))
        return hands

    def _from_palm(self, image: np.ndarray, pose_roi: Roi, wrist: np.ndarray, side: str) -> Hand | None:
        search = Roi(pose_roi.cx, pose_roi.cy, pose_roi.side * 1.5, 0.0)
        palms = detect_in(self.palm, self.anchors, image, search, self.min_palm, signed=False)
        if not palms:
            return None
        palm = min(palms, key=lambda d: np.hypot(*(d.keypoints[0] - wrist)))
        roi = Roi.from_box(palm.box, palm.keypoints[0], palm.keypoints[2], PALM_SCALE, PALM_SHIFT)
        return self._landmarks(image, roi, side, True)

    def _landmarks(self, image: np.ndarray, roi: Roi, side: str, from_palm: bool) -> Hand | None:
        size = self.model.size
        raw, presence, handedness, world = self.model(roi.crop(image, size))
        score = float(presence[0] if 0.0 <= presence[0] <= 1.0 else sigmoid(presence[0]))
        if score < self.min_presence:
            return None
        lm = raw.reshape(N_HAND, 3)
        xy = roi.to_image(lm[:, :2] / size)
        landmarks = np.concatenate([xy, lm[:, 2:3] * roi.side / size], 1).astype(np.float32)
        return Hand(side, landmarks, roi.rotate(world.reshape(N_HAND, 3)).astype(np.float32), score,
                    float(handedness[0]), from_palm)
