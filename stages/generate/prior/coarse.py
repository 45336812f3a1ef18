"""Phase 2 reads the coarse video with the annotation stages, as it would read any clip.

`CoarseAnnotator` writes the coarse frames to an MP4 and runs the detect, pose and body_fit stages on it
(each loads its model once, on first use, and falls back to its embedded default without weights). The
rows they return become the inputs of the optimisation: `detection_tracks` turns the boxes of every
non-person track into object tracks, and `stages.common.prior.bodies` turns the body fits into body-pose
sequences. A failed stage is rows with an `error`, as in the annotate flow; phase 2 reports the reasons.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from physflow.stages.body_fit import BodyFitStage
from physflow.stages.common.annotation import AnnotatedShard, ClipRef
from physflow.stages.common.video_io import write_video
from physflow.stages.detect import DetectStage
from physflow.stages.generate.prior.config import CoarseAnnotationConfig
from physflow.stages.pose import PoseStage


@dataclass
class CoarseAnnotations:
    """The annotation stages' rows for one coarse video, and the body model the fits were made with."""

    detections: pa.Table
    poses: pa.Table
    body_fits: pa.Table
    body_model: Any = None  # the smplx model of the body_fit stage (rest joints for a shape), when it ran

    def summary(self) -> dict[str, Any]:
        """Rows per table and the error reasons the stages gave (for the generation's measures)."""
        out: dict[str, Any] = {}
        for name in ("detections", "poses", "body_fits"):
            table = getattr(self, name)
            errors = [e for e in table.column("error").to_pylist() if e] if "error" in table.column_names else []
            out[f"{name}_rows"] = table.num_rows - len(errors)
            if errors:
                out[f"{name}_errors"] = dict(Counter(e.split(":")[0][:120] for e in errors))
        return out


class CoarseAnnotator:
    """The detect, pose and body_fit stages, built once per generate stage, run on each coarse video."""

    def __init__(self, config: CoarseAnnotationConfig):
        sampling = {"sampling": config.sampling}
        self.config = config
        self.detect = DetectStage(config.detect.model_copy(update=sampling))
        self.pose = PoseStage(config.pose.model_copy(update=sampling))
        self.body_fit = BodyFitStage(config.body_fit)

    def __call__(self, frames: np.ndarray, fps: float, clip_id: str = "coarse") -> CoarseAnnotations:
        """frames [F, H, W, 3] uint8 -> the stages' rows (frame indices are frames of this video)."""
        f, h, w = frames.shape[:3]
        with tempfile.TemporaryDirectory(prefix="physflow-coarse-") as tmp:
            path = write_video(Path(tmp) / "coarse.mp4", frames, fps)
            clip = ClipRef(clip_id, clip_id, 0, f, str(path), w, h)
            detections = self.detect.run([clip])
            poses = self.pose.run([AnnotatedShard([clip], {"detections": detections})])
        fits = self.body_fit.run([AnnotatedShard([clip], {"poses": poses})])
        return CoarseAnnotations(detections, poses, fits, self.body_fit.model)
