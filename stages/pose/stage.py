"""pose: COCO-17 keypoints per person track (`poses`), linked to the detection tracks.

ultralytics YOLO-pose with ByteTrack over the sampled frames; each pose track takes the id of the
detection person track its boxes overlap most (mean IoU over shared frames, one pose track per
detection track); a pose track matching none keeps its own id above POSE_TRACK_BASE. Without pose
weights every clip gets one row saying so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from physflow.data_catalog.schemas import POSES
from physflow.stages.base import Stage
from physflow.stages.common.annotation import (
    PERSON,
    AnnotatedShard,
    ClipWork,
    IouTracker,
    box_iou,
    clip_error,
    clip_items,
    fill_track_ids,
)
from physflow.stages.pose.config import PoseConfig

COCO17 = "coco17"
POSE_TRACK_BASE = 200_000
NO_POSE_MODEL = ("no pose model configured: register ultralytics -pose weights as 'yolo-pose' "
                 "(physflow weights) to get keypoints")


class PoseStage(Stage[PoseConfig, ClipWork]):
    name = "pose"
    VERSION = 1
    Config = PoseConfig
    table = POSES
    input_columns = ("clip_id", "frame", "track_id", "cls", "box")

    def __init__(self, config: PoseConfig):
        super().__init__(config)
        self.model: Any = None

    def setup(self) -> None:
        if self.config.yolo_pose:
            from physflow.models.yolo import load_yolo

            self.model = load_yolo(self.config.yolo_pose.path)

    def items(self, inputs: Sequence[AnnotatedShard]) -> Sequence[ClipWork]:
        return clip_items(inputs)

    def process(self, item: ClipWork) -> Iterable[dict[str, Any]]:
        clip = item.clip
        if self.model is None:
            return clip_error(clip, NO_POSE_MODEL)
        from physflow.models.yolo import track_frames

        c = self.config
        decoded = list(clip.frames(c.sampling))
        indices, frames = [i for i, _ in decoded], [f for _, f in decoded]
        if not frames:
            raise ValueError(f"no frame decodes in [{clip.start_frame}, {clip.end_frame})")
        results = track_frames(self.model, frames, **c.yolo_kwargs())
        scale, untracked = clip.scale(c.sampling), IouTracker()
        people: list[tuple[int, int, np.ndarray, np.ndarray, float]] = []  # frame, pose track, box, kps, score
        for index, r in zip(indices, results, strict=True):
            if r.keypoints is None:
                continue
            ids = fill_track_ids(r.track_ids, r.boxes, [PERSON] * len(r.boxes), untracked)
            for i, tid in enumerate(ids):
                kps = r.keypoints[i].copy()
                kps[:, :2] *= scale
                people.append((index, tid, r.boxes[i] * scale, kps, float(r.scores[i])))
        if not people:
            return clip_error(clip, f"no person found by the pose model in {len(frames)} frames")
        link = link_tracks(people, item.rows.get("detections", []), c.link_iou)
        return [
            {"clip_id": clip.clip_id, "frame": index, "track_id": link[tid], "keypoints": kps.tolist(),
             "format": COCO17, "score": score}
            for index, tid, _, kps, score in people
        ]

    def error_rows(self, item: ClipWork, reason: str) -> list[dict[str, Any]]:
        return clip_error(item.clip, reason)


def link_tracks(people: list[tuple[int, int, np.ndarray, np.ndarray, float]], detections: list[dict[str, Any]],
                min_iou: float) -> dict[int, int]:
    """Pose track id -> detection person track id (greedy on mean IoU), or POSE_TRACK_BASE + its own id."""
    by_frame: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for d in detections:
        if d["cls"] == PERSON:
            by_frame[d["frame"]].append((d["track_id"], np.asarray(d["box"])))
    scores: dict[tuple[int, int], list[float]] = defaultdict(list)
    for frame, tid, box, _, _ in people:
        dets = by_frame.get(frame, [])
        if dets:
            ious = box_iou(box, np.stack([b for _, b in dets]))[0]
            for (det_id, _), iou in zip(dets, ious, strict=True):
                scores[(tid, det_id)].append(float(iou))
    pose_ids = sorted({p[1] for p in people})
    frames_of = {t: sum(1 for p in people if p[1] == t) for t in pose_ids}
    ranked = sorted(((sum(v) / frames_of[t], t, d) for (t, d), v in scores.items()), reverse=True)
    link: dict[int, int] = {}
    used: set[int] = set()
    for mean_iou, tid, det_id in ranked:
        if mean_iou < min_iou:
            break
        if tid not in link and det_id not in used:
            link[tid], _ = det_id, used.add(det_id)
    return {t: link.get(t, POSE_TRACK_BASE + t) for t in pose_ids}


def run(inputs: Sequence[AnnotatedShard], config: PoseConfig) -> pa.Table:
    return PoseStage(config).run(inputs)
