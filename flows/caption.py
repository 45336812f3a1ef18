"""caption: one caption per kept clip (sidecar files win; else measured, or a VLM behind an OpenAI API).

The flow gathers what physflow measured on each kept clip (detection tracks' box centres, mean optical
flow, bounces from physics_metrics) and any sidecar caption beside the video, then runs the caption
stage over content-keyed shards.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog, canonical_json
from physflow.data_catalog.keys import sha256_text
from physflow.flows.prefect_flow import flow
from physflow.flows.results import FlowResult
from physflow.flows.runtime import plan, run_jobs
from physflow.stages.caption import CaptionConfig, CaptionStage, ClipMeasures, TrackMeasure
from physflow.stages.common.remote_files import file_name
from physflow.stages.physics_context.captions import CaptionInputError, read_sidecar, sidecars_of

DEFAULT_CATALOG = "./physflow-data"
ITEM_CACHE_FILE = "caption_cache.sqlite"

CLIPS_SQL = """
SELECT c.clip_id, c.video_id, c.start_frame, c.end_frame, c.clip_uri, v.uri,
       coalesce(c.width, v.width) AS width, coalesce(c.height, v.height) AS height, coalesce(c.fps, v.fps) AS fps
FROM clips c JOIN videos v USING (video_id)
WHERE c.keep AND c.error IS NULL AND v.error IS NULL AND c.end_frame > c.start_frame ORDER BY c.clip_id
"""
TRACKS_SQL = """
SELECT clip_id, track_id, any_value(cls) AS cls, list(frame ORDER BY frame) AS frames,
       list((box[1] + box[3]) / 2 ORDER BY frame) AS cx, list((box[2] + box[4]) / 2 ORDER BY frame) AS cy
FROM detections WHERE error IS NULL AND track_id IS NOT NULL AND box IS NOT NULL GROUP BY clip_id, track_id
ORDER BY clip_id, track_id
"""
FLOW_SQL = "SELECT clip_id, avg(mag_mean) AS mag, min(flow_uri) AS flow_path FROM flows WHERE error IS NULL " \
           "GROUP BY clip_id"
BOUNCES_SQL = "SELECT clip_id, max(n_bounces) AS n FROM physics_metrics WHERE error IS NULL GROUP BY clip_id"


class CaptionParams(BaseModel):
    """Parameters of the caption flow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI.")
    shard_size: int = Field(64, ge=1, le=100_000, description="Average clips per cached shard.")
    caption: CaptionConfig = Field(default_factory=CaptionConfig)


def _sidecars(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Sidecar captions by clip id: a clip's own caption, else its video's."""
    out: dict[str, str] = {}
    by_video: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_video[r["uri"]].append(r)
    for uri, clips in by_video.items():
        video_id = clips[0]["video_id"]
        for path in sidecars_of(Path(uri)):
            try:
                items = read_sidecar(path, video_id)
            except CaptionInputError as exc:
                print(f"sidecar ignored: {exc}")
                continue
            whole = next((i.text for i in items if i.clip_id is None), None)
            own = {i.clip_id: i.text for i in items if i.clip_id}
            out.update({c["clip_id"]: own.get(c["clip_id"]) or whole for c in clips if own.get(c["clip_id"]) or whole})
    return out


def clip_measures(catalog: Catalog) -> list[ClipMeasures]:
    """Every kept clip with what the catalog measured on it."""
    rows = catalog.query(CLIPS_SQL).to_pylist()
    tracks: dict[str, list[TrackMeasure]] = defaultdict(list)
    sizes = {r["clip_id"]: (r["width"] or 1, r["height"] or 1) for r in rows}
    for t in catalog.query(TRACKS_SQL).to_pylist():
        w, h = sizes.get(t["clip_id"], (1, 1))
        tracks[t["clip_id"]].append(TrackMeasure(t["cls"], int(t["track_id"]), tuple(t["frames"]),
                                                 tuple(x / w for x in t["cx"]), tuple(y / h for y in t["cy"])))
    flows = {r["clip_id"]: r for r in catalog.query(FLOW_SQL).to_pylist()}
    bounces = {r["clip_id"]: r["n"] for r in catalog.query(BOUNCES_SQL).to_pylist()}
    sidecar = _sidecars(rows)
    return [ClipMeasures(r["clip_id"], r["video_id"], r["clip_uri"] or r["uri"], int(r["start_frame"]),
                         int(r["end_frame"]), float(r["fps"] or 0.0), sidecar.get(r["clip_id"]),
                         tuple(tracks.get(r["clip_id"], [])), None, flows.get(r["clip_id"], {}).get("mag"),
                         bounces.get(r["clip_id"]), uri_is_clip=bool(r["clip_uri"]),
                         flow_path=flows.get(r["clip_id"], {}).get("flow_path")) for r in rows]


def resolve_config(config: CaptionConfig, catalog: Catalog) -> CaptionConfig:
    if config.item_cache is None and catalog.root.is_local:
        return config.model_copy(update={"item_cache": str(catalog.root.local_path(ITEM_CACHE_FILE))})
    return config


def measures_key(m: ClipMeasures) -> str:
    """Content key of one clip's inputs (the clip id holds the video's hash; measures change the key)."""
    return sha256_text(canonical_json({**asdict(m), "uri": file_name(m.uri),
                                       "flow_path": file_name(m.flow_path) if m.flow_path else None}))


@flow(name="caption-clips", log_prints=True)
def caption_flow(params: CaptionParams) -> FlowResult:
    catalog = Catalog(params.catalog)
    config = resolve_config(params.caption, catalog)
    items = clip_measures(catalog)
    if not items:
        print("no kept clips in the catalog: nothing to caption")
        return FlowResult()
    if config.backend == "openai":  # an unreachable service fails here, before any work
        from physflow.stages.caption.vlm import VlmCaptioner

        VlmCaptioner(config).client.check()
    jobs = plan(CaptionStage, config, items, keys=[measures_key(m) for m in items], catalog=catalog,
                shard_size=params.shard_size)
    return FlowResult(refs=run_jobs(jobs))
