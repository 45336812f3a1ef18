"""optical-flow: flow fields, VideoJAM flow-RGB videos and spectral volumes for every kept clip.

`build_jobs` turns clip rows into cached stage jobs; the annotate flow calls it with its own clip rows,
and `optical_flow_flow` runs it alone over the catalog's kept clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog
from physflow.data_catalog.queries import kept_clip_rows
from physflow.flows.env import DEFAULT_CATALOG
from physflow.flows.prefect_flow import flow
from physflow.flows.results import FlowResult
from physflow.flows.runtime import StageJob, plan, run_jobs
from physflow.flows.weights import resolve_weights
from physflow.models.registry import WeightsRegistry
from physflow.stages.common.annotation import clip_content_key
from physflow.stages.optical_flow import FlowClip, OpticalFlowConfig, OpticalFlowStage


class OpticalFlowParams(BaseModel):
    """Parameters of the optical-flow flow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI.")
    shard_size: int = Field(16, ge=1, le=10_000, description="Average clips per cached shard.")
    weights_config: str | None = Field(None, description="physflow.toml naming weights files (default: ./physflow.toml).")
    optical_flow: OpticalFlowConfig = Field(default_factory=OpticalFlowConfig)


def kept_clips(catalog: Catalog) -> list[dict[str, Any]]:
    """Kept clips with their video's path and frame rate."""
    return kept_clip_rows(catalog)


def clip_item(row: dict[str, Any], blob_root: str) -> tuple[FlowClip, str]:
    """A stage item and its content key for one clip row (clip_uri decoded whole when set, else the video range)."""
    start, end = int(row["start_frame"]), int(row["end_frame"])
    if row.get("clip_uri"):
        item = FlowClip(row["clip_id"], row["clip_uri"], 0, end - start, blob_root, row.get("fps"))
    else:
        item = FlowClip(row["clip_id"], row["uri"], start, end, blob_root, row.get("fps"))
    return item, clip_content_key(row["clip_id"], row.get("clip_uri"))


def resolve_config(config: OpticalFlowConfig, registry: WeightsRegistry) -> OpticalFlowConfig:
    """Fill RAFT's weights from the registry and prove they load; fails before any work, naming the problem."""
    if config.method != "raft":
        return config
    from physflow.models.raft import load_raft

    config = resolve_weights(config, registry)
    load_raft(config.raft_weights, config.raft_model)  # type: ignore[arg-type]
    return config


def build_jobs(
    rows: Sequence[dict[str, Any]],
    config: OpticalFlowConfig,
    catalog: Catalog,
    *,
    shard_size: int = 16,
    registry: WeightsRegistry | None = None,
) -> list[StageJob]:
    """Cached optical-flow jobs for clip rows (columns of data_catalog.queries.KEPT_CLIPS_SQL; `fps` optional)."""
    config = resolve_config(config, registry or WeightsRegistry())
    pairs = [clip_item(row, str(catalog.root.uri)) for row in rows]
    return plan(OpticalFlowStage, config, [p[0] for p in pairs], keys=[p[1] for p in pairs], catalog=catalog,
                shard_size=shard_size)


@flow(name="optical-flow", log_prints=True)
def optical_flow_flow(params: OpticalFlowParams) -> FlowResult:
    catalog = Catalog(params.catalog)
    registry = WeightsRegistry.load(params.weights_config)
    rows = kept_clips(catalog)
    if not rows:
        print("no kept clips in the catalog: nothing to do")
        return FlowResult()
    jobs = build_jobs(rows, params.optical_flow, catalog, shard_size=params.shard_size, registry=registry)
    return FlowResult(refs=run_jobs(jobs))
