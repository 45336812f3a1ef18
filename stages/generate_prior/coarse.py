"""Phase 2 reads the coarse video with the annotation stages, as it would read any clip.

`CoarseAnnotator` writes the coarse frames to an MP4 and runs the detect, pose and body_fit stages on it
(each loads its model once, on first use, and falls back to its embedded default without weights). The
rows they return become the inputs of the optimisation: `detection_tracks` turns the boxes of every
non-person track into object tracks, and `stages.generate_prior.bodies` turns the body fits into body-pose
sequences. A failed stage is rows with an `error`, as in the annotate flow; phase 2 reports the reasons.
"""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from stages.annotation import PERSON, AnnotatedShard, ClipRef
from stages.body_fit import BodyFitStage
from stages.detect import DetectStage
from stages.generate_prior.config import CoarseAnnotationConfig
from stages.generate_prior.scene import Tracks, make_tracks
from stages.pose import PoseStage
from stages.video_io import write_video


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


def detection_tracks(detections: pa.Table, n_frames: int, width: int, *, max_objects: int, min_frames: int,
                     max_jump: float = 0.25, max_gap: int = 3) -> Tracks:
    """Object tracks from the detect stage's rows: its non-person tracks, fragments stitched (`stitch`), the
    `max_objects` seen longest of those seen in at least `min_frames` frames. Centre = box centre, radius =
    half the box's geometric mean side (pixels of the coarse video)."""
    observed: dict[int, dict[int, tuple[np.ndarray, float, float]]] = defaultdict(dict)
    for row in detections.to_pylist():
        if row.get("error") or row["cls"] == PERSON or row["frame"] >= n_frames:
            continue
        x1, y1, x2, y2 = row["box"]
        seen = observed[row["track_id"]].get(row["frame"])
        if seen is None or row["score"] > seen[2]:  # one box per track and frame: the surest
            centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
            observed[row["track_id"]][row["frame"]] = (centre, 0.5 * float(np.sqrt(max(x2 - x1, 0) * max(y2 - y1, 0))),
                                                       row["score"])
    tracks = stitch([{t: (c, r) for t, (c, r, _) in tr.items()} for _, tr in sorted(observed.items())],
                    max_jump * width, max_gap)
    ranked = sorted(tracks, key=lambda tr: (-len(tr), min(tr)))[:max_objects]
    return make_tracks(ranked, n_frames, min_frames)


Observed = dict[int, tuple[np.ndarray, float]]  # frame -> (centre px, radius px)


def stitch(tracks: list[Observed], max_px: float, max_gap: int) -> list[Observed]:
    """Join track fragments: a track that starts at most `max_gap` frames after another ends, within
    `max_px` of where that one was heading (constant velocity), continues it. Trackers that link boxes by
    overlap break a small fast object into one fragment per few frames; this makes it one track again."""
    chains: list[Observed] = []
    for tr in sorted(tracks, key=min):
        first = min(tr)
        best, best_d = None, max_px
        for chain in chains:
            last = max(chain)
            if not 0 < first - last <= max_gap:
                continue
            frames = sorted(chain)
            velocity = (chain[frames[-1]][0] - chain[frames[-2]][0]) / (frames[-1] - frames[-2]) if len(frames) > 1 else 0
            d = float(np.linalg.norm(chain[last][0] + velocity * (first - last) - tr[first][0]))
            if d < best_d:
                best, best_d = chain, d
        if best is None:
            chains.append(dict(tr))
        else:
            best.update(tr)
    return chains
