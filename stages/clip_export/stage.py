"""Clip export: one decode pass per video writes each of its kept clips as a normalised H.264 MP4 blob."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.schemas import CLIP_FILES
from physflow.data_catalog.storage import Root
from physflow.stages.base import Stage
from physflow.stages.clip_export.config import ExportConfig
from physflow.stages.common.video_io import iter_frames, write_video

Row = dict[str, Any]


@dataclass(frozen=True)
class ExportItem:
    """The kept clips of one video, and the catalog root whose blob store receives them."""

    root: str
    uri: str
    clips: list[Row]


class ExportStage(Stage[ExportConfig, ExportItem]):
    name = "clip_export"
    VERSION = 3  # 2: clip_uri is the catalog-relative blob reference; 3: own table clip_files, I420 throughout
    Config = ExportConfig
    table = CLIP_FILES
    input_columns = ("clip_id", "start_frame", "end_frame", "width", "height", "fps", "keep")
    cpu_bound = True

    def items(self, inputs: Sequence[ExportItem]) -> Sequence[ExportItem]:
        return list(inputs)

    def count_in(self, inputs: Sequence[ExportItem], items: Sequence[ExportItem]) -> int:
        return sum(len(i.clips) for i in items)

    def process(self, item: ExportItem) -> Iterable[Row]:
        blobs = BlobStore(Root(item.root))
        clips = sorted(item.clips, key=lambda r: r["start_frame"])
        first = clips[0]
        src_fps = float(first.get("fps") or 25.0)
        out_fps = min(self.config.fps or src_fps, src_fps)
        width = _out_width(first.get("width") or 0, first.get("height") or 0, self.config.short_side)
        pending = list(clips)
        buffer: list[np.ndarray] = []
        with tempfile.TemporaryDirectory(prefix="physflow-export-") as tmp:
            for i, frame in iter_frames(item.uri, start=clips[0]["start_frame"], end=clips[-1]["end_frame"],
                                        width=width or None, fmt="yuv420p"):
                clip = pending[0]
                if i >= clip["start_frame"] and _keep_frame(i - clip["start_frame"], src_fps, out_fps) \
                        and len(buffer) < self.config.max_frames:
                    buffer.append(frame.copy())  # the decoder reuses the buffer the array may view
                if i + 1 == clip["end_frame"]:
                    yield self._write(blobs, Path(tmp), clip, buffer, out_fps)
                    pending.pop(0)
                    buffer = []
                    if not pending:
                        break
        for clip in pending:  # the video ended before these clips did
            yield {**_ids(clip), "error": f"export failed: video ended before frame {clip['end_frame']}"}

    def _write(self, blobs: BlobStore, tmp: Path, clip: Row, frames: list[np.ndarray], fps: float) -> Row:
        # Frames stay in I420 from the decoder's scaler to the encoder: no RGB round trip, whose conversion
        # inside the encoder gave different bytes for the same frames depending on buffer alignment.
        path = write_video(tmp / "clip.mp4", frames, fps, crf=self.config.crf, frame_format="yuv420p")
        uri, sha = blobs.put_file(path, "mp4")
        return {**_ids(clip), "clip_uri": blobs.ref(uri), "clip_sha256": sha}

    def error_rows(self, item: ExportItem, reason: str) -> list[Row]:
        return [{**_ids(c), "error": f"export failed: {reason}"} for c in item.clips]


def _ids(clip: Row) -> Row:
    return {"clip_id": clip["clip_id"], "video_id": clip["video_id"]}


def _out_width(width: int, height: int, short_side: int) -> int:
    """Even output width with the short side at most `short_side` (0 when the size is unknown)."""
    if not width or not height:
        return 0
    scale = min(1.0, short_side / min(width, height))
    return max(2, round(width * scale / 2) * 2)


def _keep_frame(j: int, src_fps: float, out_fps: float) -> bool:
    """Whether the j-th frame of a clip starts a new output frame when resampling src_fps to out_fps."""
    if out_fps >= src_fps or j == 0:
        return True
    return math.floor(j * out_fps / src_fps) > math.floor((j - 1) * out_fps / src_fps)


def run(inputs: Sequence[ExportItem], config: ExportConfig) -> pa.Table:
    return ExportStage(config).run(inputs)
