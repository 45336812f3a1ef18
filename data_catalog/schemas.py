"""Arrow schemas of every physflow table (DESIGN §3), versioned, with table and column names as constants.

A table's `version` is bumped whenever its columns change meaning; `CATALOG_SCHEMA_VERSION` is bumped
whenever the catalog layout (registry columns, view rules) changes. A catalog written by a newer
layout is refused on open.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

CATALOG_SCHEMA_VERSION = 1

# Table names.
VIDEOS = "videos"
CLIPS = "clips"
DETECTIONS = "detections"
POSES = "poses"
BODY_FITS = "body_fits"
PART_MASKS = "part_masks"
FLOWS = "flows"
PHYSICS_CONTEXT = "physics_context"
CHECKPOINTS = "checkpoints"
GENERATIONS = "generations"

# Column names shared across tables.
ERROR = "error"
REJECT_REASON = "reject_reason"
VIDEO_ID = "video_id"
CLIP_ID = "clip_id"

_f32 = pa.float32()
_f64 = pa.float64()
_i32 = pa.int32()
_i64 = pa.int64()
_str = pa.string()


def _vec(n: int | None = None) -> pa.DataType:
    return pa.list_(_f32, n) if n else pa.list_(_f32)


@dataclass(frozen=True)
class TableSpec:
    """One table: its name, schema version, Arrow schema and the columns that identify a row."""

    name: str
    version: int
    schema: pa.Schema
    key: tuple[str, ...]

    def empty(self) -> pa.Table:
        return self.schema.empty_table()


def _spec(name: str, version: int, key: tuple[str, ...], fields: list[tuple[str, pa.DataType]]) -> TableSpec:
    schema = pa.schema([pa.field(n, t) for n, t in fields] + [pa.field(ERROR, _str)])
    return TableSpec(name, version, schema.with_metadata({"physflow.table": name, "physflow.version": str(version)}), key)


TABLES: dict[str, TableSpec] = {
    s.name: s
    for s in [
        _spec(VIDEOS, 1, (VIDEO_ID,), [
            (VIDEO_ID, _str), ("uri", _str), ("sha256", _str), ("bytes", _i64), ("container", _str),
            ("codec", _str), ("width", _i32), ("height", _i32), ("fps", _f64), ("n_frames", _i64),
            ("duration_s", _f64), ("rotation", _i32), ("has_audio", pa.bool_()),
        ]),
        _spec(CLIPS, 1, (CLIP_ID,), [
            (CLIP_ID, _str), (VIDEO_ID, _str), ("start_frame", _i64), ("end_frame", _i64),
            ("start_s", _f64), ("end_s", _f64), ("shot_index", _i32),
            ("blur", _f32), ("brightness", _f32), ("motion_mean", _f32), ("motion_p90", _f32),
            ("static", pa.bool_()), ("text_area", _f32), ("phash", _str),
            ("keep", pa.bool_()), (REJECT_REASON, _str), ("clip_uri", _str),
        ]),
        _spec(DETECTIONS, 1, (CLIP_ID, "frame", "track_id"), [
            (CLIP_ID, _str), ("frame", _i32), ("track_id", _i32), ("cls", _str), ("score", _f32),
            ("box", _vec(4)), ("mask_rle", _str),
        ]),
        _spec(POSES, 1, (CLIP_ID, "frame", "track_id"), [
            (CLIP_ID, _str), ("frame", _i32), ("track_id", _i32),
            ("keypoints", pa.list_(_vec(3))), ("format", _str),
        ]),
        _spec(BODY_FITS, 1, (CLIP_ID, "track_id", "frame"), [
            (CLIP_ID, _str), ("track_id", _i32), ("frame", _i32), ("model", _str),
            ("betas", _vec()), ("global_orient", _vec(3)), ("body_pose", _vec()), ("transl", _vec(3)),
            ("camera", _vec()), ("fit_loss", _f32),
        ]),
        _spec(PART_MASKS, 1, (CLIP_ID, "frame"), [
            (CLIP_ID, _str), ("frame", _i32), ("mask_uri", _str), ("confidence", _f32),
        ]),
        _spec(FLOWS, 1, (CLIP_ID, "method"), [
            (CLIP_ID, _str), ("method", _str), ("flow_uri", _str), ("flow_rgb_uri", _str),
            ("spectral_uri", _str), ("mag_mean", _f32), ("mag_p90", _f32),
        ]),
        _spec(PHYSICS_CONTEXT, 1, (CLIP_ID, "prompt_id"), [
            (CLIP_ID, _str), ("prompt_id", _str), ("prompt", _str), ("enhanced_prompt", _str),
            ("properties", _str), ("phenomena", pa.list_(_str)), ("categories", pa.list_(_str)),
            ("quantities", _str), ("backend", _str),
        ]),
        _spec(CHECKPOINTS, 2, ("checkpoint_id",), [
            ("checkpoint_id", _str), ("recipe", _str), ("base", _str), ("path", _str), ("step", _i64),
            ("metrics", _str), ("data_snapshot", pa.list_(_str)), ("created_at", pa.timestamp("us", tz="UTC")),
            ("run_id", _str), ("config", _str), ("weights_sha256", _str), ("n_samples", _i64),
        ]),
        _spec(GENERATIONS, 1, ("generation_id", "stage"), [
            ("generation_id", _str), ("prompt", _str), ("checkpoint_id", _str), ("stage", _str),
            ("video_uri", _str), ("metrics", _str),
        ]),
    ]
}


def table_spec(name: str) -> TableSpec:
    """The spec of table `name`; an unknown name fails listing the known ones."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(sorted(TABLES))}") from None
