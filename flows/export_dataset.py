"""export-dataset: a curated, annotated selection of the catalog in a format trainers read.

The selection is one SQL condition over the `samples` view below (a clip with its caption, physics
context, flow-RGB video and part masks), e.g. `keep AND caption IS NOT NULL AND list_contains(laws,
'buoyancy')`. Samples are ordered by clip id and cut into shards of `shard_size`, so the same selection
gives the same shard names; a shard file already present is complete (files are renamed into place),
so a re-run resumes. `export.json` records the selection, the shards and the sample count.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from physflow.data_catalog import Catalog
from physflow.flows.export_formats import sample_key, write_csv, write_hf, write_webdataset
from physflow.flows.prefect_flow import flow

DEFAULT_CATALOG = "./physflow-data"
SAMPLES_SQL = """
WITH cap AS (SELECT clip_id, any_value(caption) AS caption, any_value(source) AS caption_source
             FROM captions WHERE error IS NULL GROUP BY clip_id),
     pc AS (SELECT clip_id, arg_min(enhanced_prompt, prompt_id) AS enhanced_prompt,
                   arg_min(categories, prompt_id) AS categories, arg_min(laws, prompt_id) AS laws,
                   arg_min(phenomena, prompt_id) AS phenomena, arg_min(properties, prompt_id) AS properties,
                   arg_min(quantities, prompt_id) AS quantities
            FROM physics_context WHERE error IS NULL AND clip_id IS NOT NULL GROUP BY clip_id),
     fl AS (SELECT clip_id, min(flow_rgb_uri) AS flow_rgb_path FROM flows WHERE error IS NULL GROUP BY clip_id),
     samples AS (
        SELECT c.clip_id, c.video_id, c.keep, c.reject_reason, c.clip_uri AS clip_path, c.start_s, c.end_s,
               c.duration_s, c.fps, c.width, c.height, c.blur, c.brightness, c.motion_mean, c.static,
               cap.caption, cap.caption_source, pc.enhanced_prompt, pc.categories, pc.laws, pc.phenomena,
               pc.properties, pc.quantities, fl.flow_rgb_path
        FROM clips c LEFT JOIN cap USING (clip_id) LEFT JOIN pc USING (clip_id) LEFT JOIN fl USING (clip_id)
        WHERE c.error IS NULL)
SELECT * FROM samples WHERE ({where}) ORDER BY clip_id
"""
MASKS_SQL = "SELECT clip_id, frame, mask_uri FROM part_masks WHERE error IS NULL AND mask_uri IS NOT NULL " \
            "ORDER BY clip_id, frame"
MANIFEST = "export.json"


class ExportParams(BaseModel):
    """Parameters of the export-dataset flow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    out: str = Field(..., description="Output folder (created; a re-run into it resumes).")
    format: Literal["hf", "webdataset", "csv"] = Field("hf", description="hf: Parquet shards + videos for "
                                                       "datasets.load_dataset; webdataset: tar shards; csv: "
                                                       "prompts.txt + videos.txt + metadata.csv + videos/.")
    where: str = Field("keep AND clip_path IS NOT NULL", max_length=2000,
                       description="SQL condition over the samples view (columns: see SAMPLES_SQL).")
    shard_size: int = Field(256, ge=1, le=1_000_000, description="Samples per Parquet file or tar shard.")
    masks: bool = Field(True, description="webdataset: include the part masks (one PNG per masked frame).")
    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI.")

    @field_validator("where")
    @classmethod
    def _one_condition(cls, value: str) -> str:
        if ";" in value or "--" in value:
            raise ValueError(f"where must be one SQL condition (no ';' or comments), got {value!r}")
        return value


class ExportReport(BaseModel):
    out: str
    format: str
    samples: int
    skipped_without_clip_file: int
    files: list[str]
    bytes: int


def select_samples(catalog: Catalog, where: str, masks: bool) -> tuple[list[dict[str, Any]], int]:
    """The selected samples (with their video paths under the export), and how many lack a clip file."""
    try:
        rows = catalog.query(SAMPLES_SQL.format(where=where)).to_pylist()
    except Exception as exc:  # a bad condition fails before work, naming it
        raise ValueError(f"--where {where!r} is not a valid condition over the samples view: {exc}") from exc
    usable = [r for r in rows if r["clip_path"] and Path(r["clip_path"]).is_file()]
    by_clip: dict[str, list[tuple[int, str]]] = {}
    if masks:
        for m in catalog.query(MASKS_SQL).to_pylist():
            by_clip.setdefault(m["clip_id"], []).append((int(m["frame"]), m["mask_uri"]))
    for r in usable:
        r["video"] = f"videos/{sample_key(r['clip_id'])}{Path(r['clip_path']).suffix or '.mp4'}"
        r["masks"] = by_clip.get(r["clip_id"], [])
    return usable, len(rows) - len(usable)


def _drop_stale(out: Path, plan: dict[str, Any]) -> None:
    """A previous export into `out` of another selection or layout: remove its files, they are not ours."""
    old_path = out / MANIFEST
    if not old_path.exists():
        return
    old = json.loads(old_path.read_text())
    if all(old.get(k) == plan[k] for k in ("format", "shard_size", "clip_ids")):
        return
    for name in old.get("files", []):
        (out / name).unlink(missing_ok=True)
    old_path.unlink()


def _size(out: Path) -> int:
    return sum(f.stat().st_size for f in out.rglob("*") if f.is_file())


@flow(name="export-dataset", log_prints=True)
def export_dataset_flow(params: ExportParams) -> ExportReport:
    catalog = Catalog(params.catalog)
    rows, skipped = select_samples(catalog, params.where, params.masks)
    out = Path(params.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    plan = {"format": params.format, "where": params.where, "shard_size": params.shard_size,
            "clip_ids": [r["clip_id"] for r in rows]}
    _drop_stale(out, plan)
    if params.format == "hf":
        files = write_hf(out, rows, params.shard_size)
    elif params.format == "webdataset":
        files = write_webdataset(out, rows, params.shard_size)
    else:
        files = write_csv(out, rows)
    manifest = {**plan, "samples": len(rows), "files": files}
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out / MANIFEST)
    report = ExportReport(out=str(out), format=params.format, samples=len(rows), skipped_without_clip_file=skipped,
                          files=files, bytes=_size(out))
    print(f"exported {report.samples} samples as {report.format} to {out} ({report.bytes:,} bytes); "
          f"{skipped} selected clip(s) had no clip file")
    return report
