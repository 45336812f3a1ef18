"""BlazePose (Google, Apache-2.0 TFLite files): people, 33 landmarks, world landmarks and a person mask per frame.

Two models: a detector (224x224 letterboxed frame, inputs in [-1, 1]) giving per person the hip centre and a
point fixing the body's size and rotation, and a landmark model (256x256 rotated crop, inputs in [0, 1])
giving 39 landmarks (x, y, z in crop pixels, visibility and presence logits), a presence flag, a 256x256
segmentation and 39 world landmarks in metres around the hips. Landmarks 33 and 34 (hip centre, size point)
place the next frame's crop, so a person is followed without re-detection; the detector still runs each
frame to find people not yet followed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from physflow.models.mediapipe_ops import Roi, TfliteModel, detect, sigmoid, ssd_anchors
from physflow.models.tracker import box_iou

N_LANDMARKS = 33
ROI_SCALE = 1.25  # the crop is 1.25 x twice the hip-centre-to-size-point distance
# COCO-17 keypoint i is BlazePose landmark COCO17_FROM_BLAZEPOSE[i].
COCO17_FROM_BLAZEPOSE = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
LEFT_WRIST, RIGHT_WRIST = 15, 16
LEFT_PINKY, RIGHT_PINKY, LEFT_INDEX, RIGHT_INDEX = 17, 18, 19, 20


@dataclass
class PosePerson:
    """One person in one frame; pixel coordinates of the frame given."""

    track_id: int
    landmarks: np.ndarray  # (33, 4) x, y, z (px, relative depth), visibility in [0, 1]
    world: np.ndarray  # (33, 3) metres, origin between the hips, image axes (x right, y down)
    presence: float
    mask: np.ndarray | None = field(default=None, repr=False)  # (H, W) bool person mask

    def coco17(self) -> np.ndarray:
        """(17, 3) x, y, confidence in the COCO order."""
        lm = self.landmarks[list(COCO17_FROM_BLAZEPOSE)]
        return np.concatenate([lm[:, :2], lm[:, 3:4]], 1)

    def box(self) -> np.ndarray:
        seen = self.landmarks[self.landmarks[:, 3] > 0.3] if (self.landmarks[:, 3] > 0.3).sum() >= 2 else self.landmarks
        return np.concatenate([seen[:, :2].min(0), seen[:, :2].max(0)])


class BlazePose:
    """Follows up to `max_people` people over consecutive frames of one clip (call `reset` between clips)."""

    def __init__(self, detector_path: str, landmarks_path: str, *, min_detection: float = 0.5,
                 min_presence: float = 0.5, max_people: int = 4, threads: int = 1):
        self.detector = TfliteModel(detector_path, threads)
        self.landmark_model = TfliteModel(landmarks_path, threads)
        self.anchors = ssd_anchors(self.detector.size, [8, 16, 32, 32, 32])
        self.min_detection, self.min_presence, self.max_people = min_detection, min_presence, max_people
        self.reset()

    def reset(self) -> None:
        self.tracks: dict[int, Roi] = {}
        self.next_id = 1

    def __call__(self, image: np.ndarray, masks: bool = True) -> list[PosePerson]:
        """image: (H, W, 3) RGB uint8 -> the people found, tracked from the previous call."""
        people: list[PosePerson] = []
        next_tracks: dict[int, Roi] = {}
        for tid, roi in self.tracks.items():  # follow: each person's crop from its previous landmarks
            found = self._landmarks(image, roi, tid, masks)
            if found is not None and not _overlaps(found[0], people):
                people.append(found[0])
                next_tracks[tid] = found[1]
        if len(people) < self.max_people:
            for det in detect(self.detector, self.anchors, image, self.min_detection, signed=True):
                roi = Roi.aligned(det.keypoints[0], det.keypoints[1], ROI_SCALE)
                if any(box_iou(roi.box()[None], p.box()[None])[0, 0] > 0.3 or _inside(det.keypoints[0], p.box())
                       for p in people):
                    continue
                found = self._landmarks(image, roi, self.next_id, masks)
                if found is None or _overlaps(found[0], people):
                    continue
                people.append(found[0])
                next_tracks[self.next_id] = found[1]
                self.next_id += 1
                if len(people) >= self.max_people:
                    break
        self.tracks = next_tracks
        return people

    def _landmarks(self, image: np.ndarray, roi: Roi, tid: int, masks: bool) -> tuple[PosePerson, Roi] | None:
        size = self.landmark_model.size
        raw, flag, seg, _, world = self.landmark_model(roi.crop(image, size))
        presence = float(sigmoid(flag[0]) if not 0.0 <= flag[0] <= 1.0 else flag[0])
        if presence < self.min_presence:
            return None
        lm = raw.reshape(-1, 5)
        xy = roi.to_image(lm[:, :2] / size)
        z = lm[:, 2:3] * roi.side / size
        landmarks = np.concatenate([xy, z, sigmoid(lm[:, 3:4])], 1).astype(np.float32)
        world_xyz = roi.rotate(world.reshape(-1, 3)).astype(np.float32)
        mask = None
        if masks:
            prob = sigmoid(seg[..., 0]).astype(np.float32)
            h, w = image.shape[:2]
            mask = cv2.warpAffine(prob, roi.matrix(size), (w, h), flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR) > 0.5
        person = PosePerson(tid, landmarks[:N_LANDMARKS], world_xyz[:N_LANDMARKS], presence, mask)
        return person, Roi.aligned(xy[33], xy[34], ROI_SCALE)


def _inside(point: np.ndarray, box: np.ndarray) -> bool:
    return bool(box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3])


def _overlaps(person: PosePerson, others: list[PosePerson], iou: float = 0.5) -> bool:
    """A crop that landed on someone already found (two tracks converging on one body)."""
    return any(box_iou(person.box()[None], o.box()[None])[0, 0] > iou for o in others)
