"""Ingest stage: one `videos` row per input file, probed with PyAV; unreadable files are error rows."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from physflow.data_catalog.schemas import VIDEOS
from physflow.stages.base import Stage
from physflow.stages.common import remote_files
from physflow.stages.common.video_io import DEFAULT_FRAME_RATE, probe, sniff_container
from physflow.stages.ingest.config import IngestConfig

FRAMES_CONTAINER = "image2"  # FFmpeg's name for an image sequence


@dataclass(frozen=True)
class IngestItem:
    """One file to probe: its path and the sha256 of its bytes (computed by the caller, once)."""

    path: str
    sha256: str
    frame_rate: float = DEFAULT_FRAME_RATE  # frames per second, when `path` is a folder of numbered frames


def video_id(sha256: str) -> str:
    """A video's id: the start of its content's sha256 (the same bytes under two names are one video)."""
    return sha256[:16]


class IngestStage(Stage[IngestConfig, IngestItem]):
    name = "ingest"
    VERSION = 2  # 2: animated GIF/WebP and folders of numbered frames are videos
    Config = IngestConfig
    table = VIDEOS
    # Probing is mostly FFmpeg's work, outside the GIL: the 14 shared videos probed in 0.08 s on one thread and
    # 0.04 s on two (two cores); the 1,000-video scale benchmark's cold curation took 1.0-1.7 s less.
    item_threads = 0

    def items(self, inputs: Sequence[IngestItem]) -> Sequence[IngestItem]:
        return list(inputs)

    def identity(self, item: IngestItem) -> dict[str, Any]:
        """The file (its path is a column of the row) and its content."""
        return {"path": item.path, "sha256": item.sha256, "frame_rate": item.frame_rate}

    def _row_identity(self, item: IngestItem) -> dict[str, Any]:
        if remote_files.is_remote(item.path):
            return {"video_id": video_id(item.sha256), "uri": item.path, "sha256": item.sha256,
                    "bytes": _object_size(item.path)}
        path = Path(item.path)
        return {
            "video_id": video_id(item.sha256), "uri": str(path), "sha256": item.sha256,
            "bytes": _size(path),
        }

    def process(self, item: IngestItem) -> Iterable[dict[str, Any]]:
        row = self._row_identity(item)
        container = FRAMES_CONTAINER if os.path.isdir(item.path) else sniff_container(item.path)
        info = probe(item.path, decode=self.config.decode_check, container_name=container, frame_rate=item.frame_rate)
        if container is None and info.error:
            info.error = f"not a video: {info.error}"
        row.update(vars(info))
        if row["duration_s"] is not None:
            row["duration_s"] = round(row["duration_s"], 6)
        yield row

    def error_rows(self, item: IngestItem, reason: str) -> list[dict[str, Any]]:
        return [{**self._row_identity(item), "error": reason}]


def _size(path: Path) -> int | None:
    """Bytes of a file, or of a folder's files (a folder of frames)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size if path.exists() else None


def _object_size(uri: str) -> int | None:
    try:
        return remote_files.stat(uri).size
    except OSError:
        return None


def run(inputs: Sequence[IngestItem], config: IngestConfig) -> pa.Table:
    return IngestStage(config).run(inputs)
