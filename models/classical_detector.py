"""The embedded detector needing no weights: OpenCV's pretrained HOG people detector for people and
background-subtraction (MOG2) motion blobs for other moving things, linked into tracks by IoU."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from physflow.models.tracker import PERSON, IouTracker, box_iou

MOVING = "moving object"


@dataclass
class Detection:
    box: np.ndarray  # x1, y1, x2, y2 in working pixels
    score: float
    cls: str
    source: str
    mask: np.ndarray | None  # bool (h, w) at the frame size, for motion blobs


class ClassicalDetector:
    """One instance per clip: the background model and the tracks are per clip."""

    def __init__(self, *, min_person_score: float, min_blob_area: float, hog_stride: int = 8):
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.bg = cv2.createBackgroundSubtractorMOG2(history=50, varThreshold=25, detectShadows=False)
        self.min_person_score, self.min_blob_area, self.hog_stride = min_person_score, min_blob_area, hog_stride
        self.tracker = IouTracker(min_iou=0.2, max_gap=3)
        self.frames_seen = 0

    def people(self, gray: np.ndarray) -> list[Detection]:
        rects, weights = self.hog.detectMultiScale(gray, winStride=(self.hog_stride,) * 2, padding=(8, 8), scale=1.05)
        out = []
        for (x, y, w, h), s in zip(np.asarray(rects).reshape(-1, 4), np.ravel(weights), strict=True):
            if s >= self.min_person_score:
                out.append(Detection(np.array([x, y, x + w, y + h], float), float(s), PERSON, "hog", None))
        return out

    def moving(self, rgb: np.ndarray, people: list[Detection]) -> list[Detection]:
        fg = self.bg.apply(rgb)
        self.frames_seen += 1
        if self.frames_seen < 3:  # the background model needs a few frames first
            return []
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        fg = cv2.dilate(fg, np.ones((5, 5), np.uint8))
        n, labels, stats, _ = cv2.connectedComponentsWithStats((fg > 0).astype(np.uint8))
        min_area = self.min_blob_area * fg.size
        out = []
        person_boxes = np.stack([p.box for p in people]) if people else np.zeros((0, 4))
        for i in range(1, n):
            x, y, w, h, area = stats[i]
            if area < min_area or area > 0.5 * fg.size:
                continue
            box = np.array([x, y, x + w, y + h], float)
            if len(person_boxes) and box_iou(box, person_boxes).max() > 0.3:
                continue  # the moving thing is a detected person
            out.append(Detection(box, float(min(1.0, area / (w * h))), MOVING, "motion", labels == i))
        return out

    def __call__(self, rgb: np.ndarray) -> list[tuple[int, Detection]]:
        """(track id, detection) for one frame; frames must come in clip order."""
        people = self.people(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        found = people + self.moving(rgb, people)
        ids = self.tracker.update(np.stack([d.box for d in found]) if found else np.zeros((0, 4)),
                                  [d.cls for d in found])
        return list(zip(ids, found, strict=True))
