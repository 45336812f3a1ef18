"""detect: boxes, classes, masks and track ids per sampled frame of each clip (`detections`).

With YOLO weights: ultralytics detection or segmentation with its ByteTrack tracker. Without: OpenCV's HOG
people detector plus motion blobs, linked by IoU (models/classical_detector.py). Masks are RLE at the
working resolution; boxes are in source pixels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from physflow.data_catalog.schemas import DETECTIONS
from physflow.stages.base import Stage
from physflow.stages.common.annotation import ClipRef, IouTracker, clip_error, fill_track_ids, rle_encode
from physflow.stages.detect.config import DetectConfig


class DetectStage(Stage[DetectConfig, ClipRef]):
    name = "detect"
    VERSION = 1
    Config = DetectConfig
    table = DETECTIONS
    input_columns = ("clip_id", "video_id", "start_frame", "end_frame", "clip_uri", "uri")

    def __init__(self, config: DetectConfig):
        super().__init__(config)
        self.model: Any = None

    def setup(self) -> None:
        if self.config.yolo:
            from physflow.models.yolo import load_yolo

            self.model = load_yolo(self.config.yolo.path)

    def items(self, inputs: Sequence[ClipRef]) -> Sequence[ClipRef]:
        return list(inputs)

    def process(self, clip: ClipRef) -> Iterable[dict[str, Any]]:
        sampling = self.config.sampling
        indices, frames = [], []
        for index, frame in clip.frames(sampling):
            indices.append(index)
            frames.append(frame)
        if not frames:
            raise ValueError(f"no frame decodes in [{clip.start_frame}, {clip.end_frame})")
        scale = clip.scale(sampling)
        found = self._yolo(frames) if self.model is not None else self._classical(frames)
        rows = [
            {"clip_id": clip.clip_id, "frame": index, "track_id": int(tid), "cls": cls, "score": float(score),
             "box": [float(v) for v in np.asarray(box) * scale], "mask_rle": mask, "source": source}
            for index, per_frame in zip(indices, found, strict=True)
            for tid, cls, score, box, mask, source in per_frame
        ]
        return rows or clip_error(clip, f"nothing detected in {len(frames)} frames")

    def _yolo(self, frames: list[np.ndarray]) -> list[list[tuple[Any, ...]]]:
        from physflow.models.yolo import track_frames

        c = self.config
        out = []
        untracked = IouTracker()  # boxes ByteTrack leaves out (below its threshold) still get a track id
        for r in track_frames(self.model, frames, **c.yolo_kwargs()):
            source = "yolo-seg" if r.masks is not None else "yolo"
            ids = fill_track_ids(r.track_ids, r.boxes, r.classes, untracked)
            out.append([
                (ids[i], r.classes[i], r.scores[i], r.boxes[i],
                 rle_encode(r.masks[i]) if r.masks is not None else None, source)
                for i in range(len(r.boxes))
            ])
        return out

    def _classical(self, frames: list[np.ndarray]) -> list[list[tuple[Any, ...]]]:
        from physflow.models.classical_detector import ClassicalDetector

        detector = ClassicalDetector(min_person_score=self.config.min_person_score,
                                     min_blob_area=self.config.min_blob_area)
        return [
            [(tid, d.cls, d.score, d.box, rle_encode(d.mask) if d.mask is not None else None, d.source)
             for tid, d in detector(frame)]
            for frame in frames
        ]

    def error_rows(self, clip: ClipRef, reason: str) -> list[dict[str, Any]]:
        return clip_error(clip, reason)


def run(inputs: Sequence[ClipRef], config: DetectConfig) -> pa.Table:
    return DetectStage(config).run(inputs)
