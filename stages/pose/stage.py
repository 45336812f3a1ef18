"""pose: COCO-17 keypoints per person track (`poses`), linked to the detection tracks.

Default: BlazePose (models/blazepose.py), people followed from frame to frame by their own landmarks, with
33 landmarks, world landmarks, a person mask and hands (models/hands.py) per row; its files come from
`physflow weights install-defaults`. Option: ultralytics YOLO-pose with ByteTrack. Each pose track takes
the id of the detection person track its boxes overlap most (mean IoU over shared frames, one pose track
per detection track); a pose track matching none keeps its own id above POSE_TRACK_BASE. Without any pose
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
NO_POSE_MODEL = ("no pose model configured: run `physflow weights install-defaults` (BlazePose) or register "
                 "ultralytics -pose weights as 'yolo-pose' (physflow weights) to get keypoints")
Person = tuple[int, int, np.ndarray, np.ndarray, float, dict[str, Any]]  # frame, track, box, kps, score, extra


class PoseStage(Stage[PoseConfig, ClipWork]):
    name = "pose"
    # 2: BlazePose by default, with landmarks, world landmarks, masks and hands; 3: short and faint tracks dropped,
    # rows of hands found without a body
    VERSION = 3
    Config = PoseConfig
    table = POSES
    input_columns = ("clip_id", "frame", "track_id", "cls", "box")

    def __init__(self, config: PoseConfig):
        super().__init__(config)
        self.model: Any = None

    def backend(self) -> str | None:
        """The model this config runs: blazepose, yolo, or None (no pose model)."""
        c = self.config
        has_blaze = bool(c.blazepose_detector and c.blazepose_landmarks)
        if c.backend == "blazepose" and not has_blaze:
            raise ValueError("pose backend 'blazepose' needs the blazepose-detector and blazepose-landmarks files "
                             "(physflow weights install-defaults)")
        if c.backend == "yolo" and not c.yolo_pose:
            raise ValueError("pose backend 'yolo' needs a 'yolo-pose' checkpoint in the weights registry")
        if c.backend == "yolo" or (c.backend == "auto" and not has_blaze):
            return "yolo" if c.yolo_pose else None
        return "blazepose"

    def setup(self) -> None:
        backend = self.backend()
        if backend == "yolo":
            from physflow.models.yolo import load_yolo

            assert self.config.yolo_pose is not None
            self.model = load_yolo(self.config.yolo_pose.path)
        elif backend == "blazepose":
            from physflow.stages.pose.blazepose_rows import BlazePoseRunner

            self.model = BlazePoseRunner(self.config)

    def items(self, inputs: Sequence[AnnotatedShard]) -> Sequence[ClipWork]:
        return clip_items(inputs)

    def process(self, item: ClipWork) -> Iterable[dict[str, Any]]:
        clip = item.clip
        if self.model is None:
            return clip_error(clip, NO_POSE_MODEL)
        c = self.config
        decoded = list(clip.frames(c.sampling))
        indices, frames = [i for i, _ in decoded], [f for _, f in decoded]
        if not frames:
            raise ValueError(f"no frame decodes in [{clip.start_frame}, {clip.end_frame})")
        scale = clip.scale(c.sampling)
        if self.backend() == "blazepose":
            people = self.model.people(indices, frames, scale)
        else:
            people = self._yolo(indices, frames, scale)
        found = len({p[1] for p in people})
        people, pruned = prune_tracks(people, min(c.min_track_frames, len(frames)), c.min_track_visibility)
        link = link_tracks(people, item.rows.get("detections", []), c.link_iou)
        if self.backend() == "blazepose" and c.hands and c.loose_hands_stride:
            loose = self.model.loose_hands(indices, frames, scale, people, c.loose_hands_stride)
            people, link = people + loose, link | {p[1]: p[1] for p in loose}
        if not people:
            kept = (f"; {pruned} track(s) shorter than {min(c.min_track_frames, len(frames))} frames or with mean "
                    f"keypoint confidence under {c.min_track_visibility} dropped") if found else ""
            return clip_error(clip, f"no person found by the pose model in {len(frames)} frames{kept}")
        return [
            {"clip_id": clip.clip_id, "frame": index, "track_id": link[tid], "keypoints": np.asarray(kps).tolist(),
             "format": COCO17, "score": score, **extra}
            for index, tid, _, kps, score, extra in people
        ]

    def _yolo(self, indices: list[int], frames: list[np.ndarray], scale: float) -> list[Person]:
        from physflow.models.yolo import track_frames

        results = track_frames(self.model, frames, **self.config.yolo_kwargs())
        untracked = IouTracker()
        people: list[Person] = []
        for index, r in zip(indices, results, strict=True):
            if r.keypoints is None:
                continue
            ids = fill_track_ids(r.track_ids, r.boxes, [PERSON] * len(r.boxes), untracked)
            for i, tid in enumerate(ids):
                kps = r.keypoints[i].copy()
                kps[:, :2] *= scale
                people.append((index, tid, r.boxes[i] * scale, kps, float(r.scores[i]), {"source": "yolo-pose"}))
        return people

    def error_rows(self, item: ClipWork, reason: str) -> list[dict[str, Any]]:
        return clip_error(item.clip, reason)


def track_stats(people: Sequence[tuple[Any, ...]]) -> dict[int, tuple[int, float]]:
    """Pose track id -> (frames, mean COCO-17 keypoint confidence over its frames)."""
    conf: dict[int, list[float]] = defaultdict(list)
    for _, tid, _, kps, *_ in people:
        conf[tid].append(float(np.mean(np.asarray(kps)[:, 2])))
    return {tid: (len(v), float(np.mean(v))) for tid, v in conf.items()}


def prune_tracks(people: list[Person], min_frames: int, min_visibility: float) -> tuple[list[Person], int]:
    """The people of tracks at least `min_frames` long with mean keypoint confidence at least `min_visibility`
    (partial bodies found and lost again: a forearm, hands seen from above), and how many tracks were dropped."""
    stats = track_stats(people)
    keep = {tid for tid, (n, vis) in stats.items() if n >= min_frames and vis >= min_visibility}
    return [p for p in people if p[1] in keep], len(stats) - len(keep)


def link_tracks(people: Sequence[tuple[Any, ...]], detections: list[dict[str, Any]], min_iou: float
                ) -> dict[int, int]:
    """Pose track id -> detection person track id (greedy on mean IoU), or POSE_TRACK_BASE + its own id."""
    by_frame: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for d in detections:
        if d["cls"] == PERSON:
            by_frame[d["frame"]].append((d["track_id"], np.asarray(d["box"])))
    scores: dict[tuple[int, int], list[float]] = defaultdict(list)
    for frame, tid, box, *_ in people:
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
