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
CLIP_MEASURES = "clip_measures"
CLIP_DUPLICATES = "clip_duplicates"
CLIP_DECISIONS = "clip_decisions"
CLIP_FILES = "clip_files"
DETECTIONS = "detections"
POSES = "poses"
BODY_FITS = "body_fits"
PART_MASKS = "part_masks"
FLOWS = "flows"
PHYSICS_CONTEXT = "physics_context"
CAPTIONS = "captions"
CHECKPOINTS = "checkpoints"
GENERATIONS = "generations"
SYNTH_CLIPS = "synth_clips"
SYNTH_OBJECTS = "synth_objects"
PHYSICS_METRICS = "physics_metrics"
PHYSICS_PRIORS = "physics_priors"
TEXT_EMBEDDINGS = "text_embeddings"

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


_CLIP_FIELDS: list[tuple[str, pa.DataType]] = [
    (CLIP_ID, _str), (VIDEO_ID, _str), ("start_frame", _i64), ("end_frame", _i64),
    ("start_s", _f64), ("end_s", _f64), ("shot_index", _i32),
    ("blur", _f32), ("brightness", _f32), ("motion_mean", _f32), ("motion_p90", _f32),
    ("static", pa.bool_()), ("text_area", _f32), ("phash", _str),
    ("keep", pa.bool_()), (REJECT_REASON, _str), ("clip_uri", _str),
    ("boundary", _str), ("width", _i32), ("height", _i32), ("fps", _f64), ("duration_s", _f64),
    ("duplicate_of", _str), ("dup_distance", _i32), ("clip_sha256", _str), ("camera", _str),
    ("export_mode", _str),
]

# The curation stages each write only the clip columns they add, keyed by clip_id; the `clips` view joins
# them (data_catalog/views.py). Rows registered straight into `clips` (older catalogs, fixtures) still show.
CURATION_COLUMNS: dict[str, tuple[str, ...]] = {
    CLIP_MEASURES: (CLIP_ID, VIDEO_ID, "start_frame", "end_frame", "start_s", "end_s", "shot_index", "boundary",
                    "width", "height", "fps", "duration_s", "blur", "brightness", "motion_mean", "motion_p90",
                    "static", "text_area", "phash", "camera"),
    CLIP_DUPLICATES: (CLIP_ID, VIDEO_ID, "duplicate_of", "dup_distance"),
    CLIP_DECISIONS: (CLIP_ID, VIDEO_ID, "keep", REJECT_REASON),
    CLIP_FILES: (CLIP_ID, VIDEO_ID, "clip_uri", "clip_sha256", "export_mode"),
}

# A table's version rises with any change to its columns (a name, a type, the order, one added or dropped): a view
# over artifacts all of the current version binds on the table's schema without opening each file's footer
# (`Catalog._refresh_view`), and one missing a column then fails the query. tests/data_catalog/test_table_versions.py
# pins each table's columns to its version.
TABLES: dict[str, TableSpec] = {
    s.name: s
    for s in [
        _spec(VIDEOS, 1, (VIDEO_ID,), [
            (VIDEO_ID, _str), ("uri", _str), ("sha256", _str), ("bytes", _i64), ("container", _str),
            ("codec", _str), ("width", _i32), ("height", _i32), ("fps", _f64), ("n_frames", _i64),
            ("duration_s", _f64), ("rotation", _i32), ("has_audio", pa.bool_()),
        ]),
        _spec(CLIPS, 4, (CLIP_ID,), _CLIP_FIELDS),  # 4: export_mode
        *(_spec(name, 2 if name == CLIP_FILES else 1, (CLIP_ID,), [f for f in _CLIP_FIELDS if f[0] in columns])
          for name, columns in CURATION_COLUMNS.items()),
        _spec(DETECTIONS, 2, (CLIP_ID, "frame", "track_id"), [
            (CLIP_ID, _str), ("frame", _i32), ("track_id", _i32), ("cls", _str), ("score", _f32),
            ("box", _vec(4)), ("mask_rle", _str), ("source", _str),
        ]),
        _spec(POSES, 3, (CLIP_ID, "frame", "track_id"), [
            (CLIP_ID, _str), ("frame", _i32), ("track_id", _i32),
            ("keypoints", pa.list_(_vec(3))), ("format", _str), ("score", _f32),
            # BlazePose: 33 landmarks (x, y px, z px, visibility), world landmarks (m), person mask, hands (x, y px,
            # presence) with world landmarks (m), the model that produced the row
            ("landmarks", pa.list_(_vec(4))), ("world_landmarks", pa.list_(_vec(3))), ("mask_rle", _str),
            ("left_hand", pa.list_(_vec(3))), ("right_hand", pa.list_(_vec(3))),
            ("left_hand_world", pa.list_(_vec(3))), ("right_hand_world", pa.list_(_vec(3))), ("source", _str),
        ]),
        _spec(BODY_FITS, 3, (CLIP_ID, "track_id", "frame"), [
            (CLIP_ID, _str), ("track_id", _i32), ("frame", _i32), ("model", _str),
            ("betas", _vec()), ("global_orient", _vec(3)), ("body_pose", _vec()), ("transl", _vec(3)),
            ("camera", _vec()), ("fit_loss", _f32), ("reproj_px", _f32),
            # SMPL-X fits with hands: smplx's full hand-pose space (15 joints x axis-angle) per hand
            ("left_hand_pose", _vec(45)), ("right_hand_pose", _vec(45)),
        ]),
        _spec(PART_MASKS, 2, (CLIP_ID, "frame"), [
            (CLIP_ID, _str), ("frame", _i32), ("mask_uri", _str), ("confidence", _f32), ("width", _i32),
            ("height", _i32), ("labels", _str), ("preview_uri", _str),
        ]),
        _spec(FLOWS, 2, (CLIP_ID, "method"), [
            (CLIP_ID, _str), ("method", _str), ("variant", _str), ("width", _i32), ("height", _i32),
            ("n_pairs", _i32), ("flow_uri", _str), ("flow_sha256", _str), ("flow_rgb_uri", _str),
            ("flow_rgb_sha256", _str), ("spectral_uri", _str), ("spectral_sha256", _str),
            ("spectral_frames", _i32), ("spectral_k", _i32), ("mag_mean", _f32), ("mag_p90", _f32),
        ]),
        _spec(PHYSICS_CONTEXT, 3, (CLIP_ID, "prompt_id"), [
            (CLIP_ID, _str), ("prompt_id", _str), ("prompt", _str), ("enhanced_prompt", _str),
            ("properties", _str), ("phenomena", pa.list_(_str)), ("categories", pa.list_(_str)),
            ("quantities", _str), ("backend", _str),
            (VIDEO_ID, _str), ("source", _str), ("motion_relevance", _f32), ("model", _str), ("template_version", _str),
            ("laws", pa.list_(_str)),
        ]),
        _spec(CAPTIONS, 1, (CLIP_ID,), [
            (CLIP_ID, _str), (VIDEO_ID, _str), ("caption", _str), ("source", _str), ("backend", _str),
            ("model", _str), ("duration_s", _f64),
        ]),
        _spec(CHECKPOINTS, 2, ("checkpoint_id",), [
            ("checkpoint_id", _str), ("recipe", _str), ("base", _str), ("path", _str), ("step", _i64),
            ("metrics", _str), ("data_snapshot", pa.list_(_str)), ("created_at", pa.timestamp("us", tz="UTC")),
            ("run_id", _str), ("config", _str), ("weights_sha256", _str), ("n_samples", _i64),
        ]),
        _spec(GENERATIONS, 2, ("generation_id", "stage"), [
            ("generation_id", _str), ("prompt", _str), ("checkpoint_id", _str), ("stage", _str),
            ("video_uri", _str), ("metrics", _str), ("phase", _i32), ("seed", _i64), ("frames", _i32),
            ("width", _i32), ("height", _i32), ("fps", _f64), ("video_sha256", _str), ("preview_uri", _str),
            ("mask_uri", _str), ("confidence", _f32), ("seconds", _f64), ("image_sha256", _str),
            ("enhanced_prompt", _str), ("phenomena", pa.list_(_str)), ("categories", pa.list_(_str)),
        ]),
        _spec(SYNTH_CLIPS, 1, (CLIP_ID,), [
            (CLIP_ID, _str), (VIDEO_ID, _str), ("index", _i32), ("scene", _str), ("seed", _i64), ("uri", _str),
            ("sha256", _str), ("width", _i32), ("height", _i32), ("fps", _f64), ("n_frames", _i32),
            ("ppm", _f64), ("g", _f64), ("restitution", _f64), ("friction", _f64), ("length_m", _f64),
            ("mass", pa.list_(_f64)), ("params", _str), ("caption", _str), ("flow_uri", _str),
        ]),
        _spec(SYNTH_OBJECTS, 2, (CLIP_ID, "object_id", "frame"), [
            (CLIP_ID, _str), ("object_id", _i32), ("frame", _i32), ("kind", _str), ("color", _str),
            ("hue", _i32), ("x", _f64), ("y", _f64), ("vx", _f64), ("vy", _f64), ("radius", _f64),
            ("mass", _f64), ("visible", pa.bool_()), ("mask_rle", _str), ("keypoints", pa.list_(_vec(3))),
            ("betas", _vec()), ("body_pose", _vec()), ("global_orient", _vec(3)), ("transl", _vec(3)),
        ]),
        _spec(PHYSICS_METRICS, 2, (CLIP_ID, "tracker"), [
            (CLIP_ID, _str), ("uri", _str), ("tracker", _str), ("n_frames", _i32), ("fps", _f64), ("ppm", _f64),
            ("n_tracks", _i32), ("accel_y_px_s2", _f64), ("gravity_m_s2", _f64), ("fit_residual_px", _f64),
            # v2: free flight by fit, expectations, camera, border cuts, motion and frame-timing events
            ("seconds_per_frame", _f64), ("accel_y_err_px_s2", _f64), ("gravity_err_m_s2", _f64),
            ("gravity_frame_heights_s2", _f64), ("flight_segments", _i32), ("gravity_ratio", _f64),
            ("restitution_ratio", _f64), ("camera_class", _str), ("camera_shift_px", _f64),
            ("camera_zoom_rate", _f64), ("stabilised", pa.bool_()), ("cut_observations", _i32),
            ("rest_frames_midair", _i32), ("unforced_changes", _i32), ("repeated_frames", _i32),
            ("dropped_frames", _i32),
            ("n_bounces", _i32), ("restitution", _f64), ("n_collisions", _i32), ("momentum_change", _f64),
            ("energy_ratio", _f64), ("max_gap_px", _f64), ("teleports", _i32), ("smooth_fraction", _f64),
            ("appeared", _i32), ("vanished", _i32), ("radius_drift", _f64), ("dynamic_degree", _f64),
            ("motion_smoothness", _f64), ("temporal_flicker", _f64), ("gravity_rel_err", _f64),
            ("restitution_rel_err", _f64), ("pos_err_px", _f64), ("vel_err_px_s", _f64),
            ("violations", pa.list_(_str)),
        ]),
        _spec(PHYSICS_PRIORS, 1, ("prior_id",), [
            ("prior_id", _str), ("kind", _str), ("channels", _i32), ("window", _i32), ("sequences", _i64),
            ("tracks", _i64), ("clips", _i64), ("fps_mean", _f64), ("steps", _i32), ("loss_first", _f64),
            ("loss_last", _f64), ("heldout_gain", _f64), ("uri", _str), ("sha256", _str), ("config", _str),
        ]),
        # Prompt embeddings (models/text_store.py): one safetensors blob per (text encoder, text), written by train
        _spec(TEXT_EMBEDDINGS, 1, ("encoder_sha256", "text_sha256"), [
            ("encoder_sha256", _str), ("text_sha256", _str), ("text", _str), ("uri", _str), ("sha256", _str),
            ("shape", pa.list_(_i64)), ("dtype", _str),
        ]),
    ]
}


def table_spec(name: str) -> TableSpec:
    """The spec of table `name`; an unknown name fails listing the known ones."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(sorted(TABLES))}") from None
