"""Caption inputs: sidecar files next to videos (`.txt`, `.json`) and captions tables (CSV, Parquet).

A `.txt` sidecar is one caption for its video. A `.json` sidecar is `{"caption": ...}` (or "text",
"prompt", "description"), or `{"captions": [{"start_frame": s, "end_frame": e, "caption": ...}, ...]}`
for clip captions, which become clip ids `{video_id}:{s}-{e}`. A table needs a caption column (one of
the same names) and may carry `clip_id`, `video_id`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from physflow.stages.physics_context.stage import PhysicsItem

TEXT_KEYS = ("caption", "text", "prompt", "description")
SIDECAR_SUFFIXES = (".txt", ".json")
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


class CaptionInputError(ValueError):
    """A caption file that cannot be read as captions; raised before any work, naming the file."""


def _text_of(entry: dict[str, Any], where: str) -> str:
    for key in TEXT_KEYS:
        if isinstance(entry.get(key), str):
            return str(entry[key])
    raise CaptionInputError(f"{where}: no caption field (one of {', '.join(TEXT_KEYS)})")


def read_sidecar(path: Path, video_id: str | None) -> list[PhysicsItem]:
    """The captions in one sidecar file, tied to the video (and clips) it describes."""
    if path.suffix == ".txt":
        return [PhysicsItem(path.read_text(errors="replace"), "caption", None, video_id)]
    try:
        data = json.loads(path.read_text(errors="replace"))
    except json.JSONDecodeError as exc:
        raise CaptionInputError(f"{path}: not valid JSON ({exc.msg})") from exc
    entries = data.get("captions") if isinstance(data, dict) and "captions" in data else data
    if isinstance(entries, dict):
        return [PhysicsItem(_text_of(entries, str(path)), "caption", None, video_id)]
    if not isinstance(entries, list):
        raise CaptionInputError(f"{path}: expected an object or a list of caption objects")
    items = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise CaptionInputError(f"{path}: entry {n} is not an object")
        clip = None
        if video_id and isinstance(entry.get("start_frame"), int) and isinstance(entry.get("end_frame"), int):
            clip = f"{video_id}:{entry['start_frame']}-{entry['end_frame']}"
        items.append(PhysicsItem(_text_of(entry, f"{path} entry {n}"), "caption", clip, video_id))
    return items


def sidecars_of(video: Path) -> list[Path]:
    return [p for p in (video.with_suffix(s) for s in SIDECAR_SUFFIXES) if p.is_file()]


def read_table(path: Path) -> list[PhysicsItem]:
    """Captions from a CSV or Parquet table with a caption column and optional clip_id / video_id."""
    try:
        table: pa.Table = pq.read_table(path) if path.suffix in (".parquet", ".pq") else pacsv.read_csv(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise CaptionInputError(f"{path}: cannot read as a table: {exc}") from exc
    column = next((k for k in TEXT_KEYS if k in table.column_names), None)
    if column is None:
        raise CaptionInputError(f"{path}: no caption column (one of {', '.join(TEXT_KEYS)}); "
                                f"columns are {', '.join(table.column_names)}")
    rows = table.select([c for c in (column, "clip_id", "video_id") if c in table.column_names]).to_pylist()
    return [PhysicsItem(str(r[column] or ""), "caption", _opt(r.get("clip_id")), _opt(r.get("video_id"))) for r in rows]


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
