"""What the BlazePose and hand models share: a TFLite runner, SSD anchors, detection decoding, weighted
non-maximum suppression, rotated regions of interest and the crops they define.

Facts from the models' cards and the BlazeFace / BlazePose papers: the detectors are single-shot with
fixed-size anchors on strided grids; each anchor regresses a box (x, y, w, h in input pixels, relative to
the anchor centre) and alignment keypoints; overlapping detections are merged by score-weighted averaging.
A region of interest (ROI) is a square rotated so that the body or hand points up in the crop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


class TfliteModel:
    """One TFLite file run by ai-edge-litert; outputs in the file's output order."""

    def __init__(self, path: str, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        inp = self.interpreter.get_input_details()[0]
        self.input_index, self.size = inp["index"], int(inp["shape"][1])  # square NHWC input
        self.outputs = [d["index"] for d in self.interpreter.get_output_details()]

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        """image: (S, S, 3) float32 -> each output tensor without its batch axis."""
        self.interpreter.set_tensor(self.input_index, image[None].astype(np.float32))
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(i)[0].copy() for i in self.outputs]


def ssd_anchors(size: int, strides: list[int]) -> np.ndarray:
    """(N, 2) anchor centres in [0, 1]: 2 anchors per cell per layer, consecutive layers of one stride share a grid."""
    from itertools import groupby

    centres = []
    for stride, layers in groupby(strides):
        cells = math.ceil(size / stride)
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], 1)
        centres.append(np.repeat(grid, 2 * len(list(layers)), axis=0))
    return np.concatenate(centres).astype(np.float32)


@dataclass
class Detection:
    box: np.ndarray  # (4,) x1, y1, x2, y2 in image pixels
    keypoints: np.ndarray  # (K, 2) image pixels
    score: float


def decode(raw: np.ndarray, logits: np.ndarray, anchors: np.ndarray, size: int, min_score: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (N, 4) xyxy and keypoints (N, K, 2) in [0, 1] input coordinates, scores (N,), above min_score."""
    scores = sigmoid(logits[:, 0])
    keep = scores >= min_score
    raw, anchors, scores = raw[keep], anchors[keep], scores[keep]
    centre = raw[:, :2] / size + anchors
    half = raw[:, 2:4] / size / 2
    boxes = np.concatenate([centre - half, centre + half], 1)
    kps = raw[:, 4:].reshape(len(raw), (raw.shape[1] - 4) // 2, 2) / size + anchors[:, None]
    return boxes, kps, scores


def weighted_nms(boxes: np.ndarray, kps: np.ndarray, scores: np.ndarray, iou: float = 0.3
                 ) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Merge overlapping detections: each cluster's box and keypoints are its score-weighted mean."""
    from physflow.models.tracker import box_iou

    order = np.argsort(-scores)
    out = []
    while order.size:
        overlaps = box_iou(boxes[order[:1]], boxes[order])[0]
        overlaps[0] = 1.0  # the top one always leaves, so degenerate boxes cannot stall the loop
        members = order[overlaps > iou]
        w = scores[members][:, None]
        out.append(((boxes[members] * w).sum(0) / w.sum(), (kps[members] * w[:, :, None]).sum(0) / w.sum(),
                    float(scores[order[0]])))
        order = order[overlaps <= iou]
    return out


def detect(model: TfliteModel, anchors: np.ndarray, image: np.ndarray, min_score: float, *, signed: bool
           ) -> list[Detection]:
    """Run a detector on the whole frame, letterboxed into the model's square input."""
    h, w = image.shape[:2]
    return detect_in(model, anchors, image, Roi(w / 2, h / 2, float(max(h, w)), 0.0), min_score, signed=signed)


@dataclass(frozen=True)
class Roi:
    """A square rotated region: centre and side in image pixels, rotation in radians (0 = upright)."""

    cx: float
    cy: float
    side: float
    angle: float

    @classmethod
    def aligned(cls, start: np.ndarray, end: np.ndarray, scale: float, size_factor: float = 2.0,
                shift_y: float = 0.0) -> Roi:
        """Centred on `start`, side = size_factor * |end - start| * scale, rotated so start->end points up."""
        d = end - start
        angle = _wrap(math.pi / 2 - math.atan2(-d[1], d[0]))
        side = size_factor * float(np.hypot(*d)) * scale
        roi = cls(float(start[0]), float(start[1]), side, angle)
        return roi.shifted(shift_y) if shift_y else roi

    @classmethod
    def from_box(cls, box: np.ndarray, start: np.ndarray, end: np.ndarray, scale: float, shift_y: float) -> Roi:
        """The box's centre and long side, rotated by start->end, scaled, shifted along its own up axis."""
        d = end - start
        angle = _wrap(math.pi / 2 - math.atan2(-d[1], d[0]))
        side = float(max(box[2] - box[0], box[3] - box[1]))
        roi = cls(float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2, side, angle).shifted(shift_y * side)
        return cls(roi.cx, roi.cy, side * scale, angle)

    def shifted(self, dy: float) -> Roi:
        """Moved by dy pixels along the ROI's own vertical axis (negative = towards its top)."""
        return Roi(self.cx - math.sin(self.angle) * dy, self.cy + math.cos(self.angle) * dy, self.side, self.angle)

    def matrix(self, size: int) -> np.ndarray:
        """(2, 3) affine from image pixels to crop pixels of a size x size crop."""
        corners = self.to_image(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
        return cv2.getAffineTransform(corners.astype(np.float32),
                                      np.float32([[0, 0], [size, 0], [0, size]]))

    def crop(self, image: np.ndarray, size: int) -> np.ndarray:
        """(size, size, 3) float crop in [0, 1]."""
        out = cv2.warpAffine(image, self.matrix(size), (size, size), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT)
        return out.astype(np.float32) / 255.0

    def to_image(self, uv: np.ndarray) -> np.ndarray:
        """(N, 2) crop coordinates in [0, 1] -> image pixels."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        x, y = (uv[:, 0] - 0.5) * self.side, (uv[:, 1] - 0.5) * self.side
        return np.stack([self.cx + c * x - s * y, self.cy + s * x + c * y], 1)

    def rotate(self, xyz: np.ndarray) -> np.ndarray:
        """Rotate world-landmark x, y (crop axes) into image axes."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        out = xyz.copy()
        out[:, 0], out[:, 1] = c * xyz[:, 0] - s * xyz[:, 1], s * xyz[:, 0] + c * xyz[:, 1]
        return out

    def box(self) -> np.ndarray:
        """Axis-aligned bounds of the rotated square."""
        corners = self.to_image(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        return np.concatenate([corners.min(0), corners.max(0)])


def _wrap(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -60, 60)))


def detect_in(model: TfliteModel, anchors: np.ndarray, image: np.ndarray, roi: Roi, min_score: float, *,
              signed: bool) -> list[Detection]:
    """Run a detector on one region of the frame; detections in image pixels (boxes axis-aligned)."""
    crop = roi.crop(image, model.size)
    raw, logits = model(crop * 2.0 - 1.0 if signed else crop)
    boxes, kps, scores = decode(raw, logits, anchors, model.size, min_score)
    out = []
    for box, kp, score in weighted_nms(boxes, kps, scores):
        corners = roi.to_image(np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]]))
        out.append(Detection(np.concatenate([corners.min(0), corners.max(0)]), roi.to_image(kp), score))
    return out
