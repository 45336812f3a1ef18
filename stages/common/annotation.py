"""What the annotation stages share: the clip they read, which frames they sample, boxes and RLE masks.

Every annotation stage samples the same frames of a clip (`FrameSampling`), so detections, poses, fits
and part masks line up by frame index. Frame indices are relative to the clip (0 = its first frame);
boxes and keypoints are in pixels of the source video frame, whatever the working resolution.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog.keys import canonical_json, sha256_text
from physflow.data_catalog.schemas import CLIP_ID, ERROR
from physflow.models.tracker import PERSON, IouTracker, box_iou  # noqa: F401  (the labels and tracker annotation rows use)
from physflow.stages.base import StageConfig
from physflow.stages.common.remote_files import file_name
from physflow.stages.common.video_io import iter_frames, open_video, video_stream

# Part labels of the catalog's label maps (part_masks, generation's phase 2, training's mask channel):
# 0 = nothing, body parts = SMPL joint index + 1 (1..24), objects and unfitted people OBJECT_BASE + n.
OBJECT_BASE = 64
LABEL_SCALE = 255  # training's mask channel is label / LABEL_SCALE: every label within [0, 1]
HANDS_ONLY = "hands"  # `poses.source` of rows of a hand found without a body (no body keypoints)


class FrameSampling(BaseModel):
    """Which frames of a clip the annotation stages look at, and at what size."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stride: int = Field(1, ge=1, le=1000, description="Annotate every `stride`-th frame of the clip.")
    max_frames: int = Field(64, ge=1, le=100_000, description="At most this many sampled frames per clip.")
    width: int = Field(640, ge=32, le=4096, description="Working width in pixels the models see (aspect kept).")


def clip_content_key(clip_id: str, clip_uri: str | None) -> str:
    """The one content key of a clip, for every stage that reads clips: its id holds the video's content hash
    and the frame range, and an exported clip file is named by its own sha256 (the file name, not the path,
    so the key does not depend on the catalog's location, nor on how its object store is reached)."""
    return sha256_text(canonical_json([clip_id, file_name(clip_uri) if clip_uri else None]))


@dataclass(frozen=True)
class ClipRef:
    """One kept clip: frames [start_frame, end_frame) of `uri`, or all of `clip_uri` when it was exported."""

    clip_id: str
    video_id: str
    start_frame: int
    end_frame: int
    uri: str
    width: int
    height: int
    clip_uri: str | None = None

    @property
    def content_key(self) -> str:
        return clip_content_key(self.clip_id, self.clip_uri)

    @property
    def n_frames(self) -> int:
        return self.end_frame - self.start_frame

    def sampled(self, sampling: FrameSampling) -> list[int]:
        """Clip-relative indices of the frames the stages annotate."""
        return list(range(0, self.n_frames, sampling.stride))[: sampling.max_frames]

    def frames(self, sampling: FrameSampling) -> Iterator[tuple[int, np.ndarray]]:
        """(clip-relative frame index, RGB frame at the working width) for each sampled frame."""
        wanted = set(self.sampled(sampling))
        if not wanted:
            return
        last = max(wanted) + 1
        if self.clip_uri:
            source = iter_frames(self.clip_uri, start=0, end=last, width=sampling.width)
            offset = 0
        else:
            source = iter_frames(self.uri, start=self.start_frame, end=self.start_frame + last, width=sampling.width)
            offset = self.start_frame
        for index, frame in source:
            if index - offset in wanted:
                yield index - offset, frame

    def working_size(self, sampling: FrameSampling) -> tuple[int, int]:
        """(height, width) of the frames at the working width, as `iter_frames` scales them: from the coded size
        of the file decoded (an exported clip's even-rounded size differs from its source's aspect)."""
        w0, h0 = coded_size(self.clip_uri or self.uri) or (self.width, self.height)
        return max(2, round(h0 * sampling.width / w0 / 2) * 2), sampling.width

    def scale(self, sampling: FrameSampling) -> float:
        """Source pixels per working pixel."""
        return self.width / sampling.width


@functools.lru_cache(maxsize=4096)
def coded_size(path: str) -> tuple[int, int] | None:
    """(width, height) of a video file's first video stream as coded, None when it does not open."""
    try:
        with open_video(path) as c:
            cc = video_stream(c).codec_context
            return (int(cc.width), int(cc.height)) if cc.width and cc.height else None
    except (OSError, IndexError, av.error.FFmpegError):
        return None


def clip_error(clip: ClipRef, reason: str) -> list[dict[str, Any]]:
    return [{CLIP_ID: clip.clip_id, ERROR: reason}]


def rle_encode(mask: np.ndarray) -> str:
    """COCO-style uncompressed RLE (column-major runs, starting with background) as JSON text."""
    flat = np.asarray(mask, bool).ravel(order="F")
    change = np.flatnonzero(np.diff(np.concatenate([[False], flat, [False]]).astype(np.int8))) if flat.size else []
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).astype(int).tolist()
    if counts and counts[-1] == 0:
        counts.pop()
    return json.dumps({"size": list(mask.shape[:2]), "counts": counts}, separators=(",", ":"))


def rle_decode(text: str) -> np.ndarray:
    """The boolean mask of `rle_encode` text."""
    rle = json.loads(text)
    h, w = rle["size"]
    flat = np.zeros(h * w, bool)
    pos, value = 0, False
    for n in rle["counts"]:
        if value:
            flat[pos:pos + n] = True
        pos += n
        value = not value
    return flat.reshape((h, w), order="F")


class WeightsRef(BaseModel):
    """A resolved weights file. Its path is left out of dumps (and so of cache keys): the sha256 names it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(..., min_length=1, exclude=True, description="Local file path of the weights.")
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$", description="sha256 of the file's bytes.")


UNTRACKED_BASE = 100_000  # ids given by the IoU linker to boxes a model's tracker left without one


def fill_track_ids(ids: np.ndarray, boxes: np.ndarray, classes: list[str], tracker: IouTracker) -> list[int]:
    """Track ids for one frame: the model's where it gave one (> 0), else IoU-linked ids above UNTRACKED_BASE."""
    ids = [int(i) for i in ids]
    missing = [i for i, tid in enumerate(ids) if tid <= 0]
    if missing:
        linked = tracker.update(np.asarray(boxes)[missing].reshape(-1, 4), [classes[i] for i in missing])
        for i, tid in zip(missing, linked, strict=True):
            ids[i] = UNTRACKED_BASE + tid
    return ids


@dataclass(frozen=True)
class AnnotatedShard:
    """One shard of clips with the upstream rows of those clips (detections, poses or fits)."""

    clips: list[ClipRef]
    tables: dict[str, pa.Table]
    blob_root: str | None = None

    def rows_by_clip(self, table: str) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        data = self.tables.get(table)
        if data is not None:
            for row in data.to_pylist():
                if row.get("error") is None:
                    out[row["clip_id"]].append(row)
        return out


@dataclass(frozen=True)
class ClipWork:
    clip: ClipRef
    rows: dict[str, list[dict[str, Any]]]
    blob_root: str | None = None


def clip_items(shards: Sequence[AnnotatedShard]) -> list[ClipWork]:
    """One work item per clip of each shard, with that clip's upstream rows."""
    items = []
    for shard in shards:
        grouped = {name: shard.rows_by_clip(name) for name in shard.tables}
        for clip in shard.clips:
            items.append(ClipWork(clip, {name: rows.get(clip.clip_id, []) for name, rows in grouped.items()},
                                  shard.blob_root))
    return items


class YoloSettings(StageConfig):
    """What the YOLO-based stages share: the frames they read and how ultralytics runs on them."""

    sampling: FrameSampling = Field(default_factory=FrameSampling, description="Frames to annotate per clip.")
    conf: float = Field(0.25, ge=0.0, le=1.0, description="YOLO: minimum box confidence.")
    iou: float = Field(0.7, ge=0.05, le=1.0, description="YOLO: NMS IoU threshold.")
    imgsz: int = Field(640, ge=32, le=2048, multiple_of=32, description="YOLO: inference size in pixels.")
    max_det: int = Field(100, ge=1, le=1000, description="YOLO: most boxes kept per frame.")
    batch: int = Field(8, ge=1, le=256, description="YOLO: frames per forward pass.")
    device: str | None = Field(None, pattern=r"^(cpu|cuda(:\d+)?|mps)$", description="torch device; None = auto.")

    def yolo_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of models.yolo.track_frames."""
        return {k: getattr(self, k) for k in ("conf", "iou", "imgsz", "max_det", "batch", "device")}
