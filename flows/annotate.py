"""annotate-clips: detections, poses, body fits and part masks over the kept clips (DESIGN §2).

Reads `clips` joined with `videos` (kept, readable clips), resolves weights from the registry before
any work (a configured but missing file fails here, naming it), then runs each stage over content-keyed
shards as cached Prefect tasks: detect -> pose -> body_fit -> part_masks. A stage's shard key is the
content sha256 of its upstream artifacts, so changing one stage's config recomputes it and what follows.

Other per-clip stages (optical flow, physics context) take the same `clips` list and `plan` / `run_jobs`
them the same way; they do not depend on these four.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog
from physflow.data_catalog.keys import canonical_json, sha256_text
from physflow.data_catalog.queries import kept_clip_rows
from physflow.data_catalog.schemas import BODY_FITS, DETECTIONS, POSES
from physflow.flows.env import DEFAULT_CATALOG
from physflow.flows.prefect_flow import flow
from physflow.flows.results import FlowResult
from physflow.flows.runtime import ArtifactRef, plan, run_jobs
from physflow.flows.weights import resolve_weights
from physflow.models.registry import WeightsRegistry
from physflow.stages.base import Stage, StageConfig
from physflow.stages.body_fit import BodyFitConfig, BodyFitStage
from physflow.stages.common.annotation import AnnotatedShard, ClipRef, FrameSampling, WeightsRef
from physflow.stages.detect import DetectConfig, DetectStage
from physflow.stages.part_masks import PartMasksConfig, PartMasksStage
from physflow.stages.pose import PoseConfig, PoseStage


class AnnotateParams(BaseModel):
    """Parameters of the annotate flow; `sampling` is applied to every stage that reads frames."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI.")
    shard_size: int = Field(64, ge=1, le=100_000, description="Average clips per cached shard.")
    limit: int | None = Field(None, ge=1, description="Annotate at most this many kept clips (by clip_id).")
    weights_config: str | None = Field(None, description="physflow.toml naming weights (default: ./physflow.toml).")
    use_weights: bool = Field(True, description="False: embedded fallbacks even where weights are registered.")
    sampling: FrameSampling = Field(default_factory=FrameSampling, description="Frames every stage annotates.")
    detect: DetectConfig = Field(default_factory=DetectConfig)
    pose: PoseConfig = Field(default_factory=PoseConfig)
    body_fit: BodyFitConfig = Field(default_factory=BodyFitConfig)
    part_masks: PartMasksConfig = Field(default_factory=PartMasksConfig)


@dataclass(frozen=True)
class StageConfigs:
    detect: DetectConfig
    pose: PoseConfig
    body_fit: BodyFitConfig
    part_masks: PartMasksConfig


def stage_configs(params: AnnotateParams, registry: WeightsRegistry | None = None) -> StageConfigs:
    """Each stage's config with the shared sampling and the resolved weights; fails before any work."""
    sampling = {"sampling": params.sampling}
    detect, pose = params.detect.model_copy(update=sampling), params.pose.model_copy(update=sampling)
    fit, masks = params.body_fit, params.part_masks.model_copy(update={**sampling, "model": params.body_fit.model,
                                                                       "num_betas": params.body_fit.num_betas})
    if params.use_weights:
        registry = registry or WeightsRegistry.load(params.weights_config)
    configs = [resolve_weights(c, registry, params.use_weights) for c in (detect, pose, fit, masks)]
    return StageConfigs(*(type(c).model_validate(c.model_dump() | _weights(c)) for c in configs))


def _weights(config: StageConfig) -> dict[str, Any]:
    """The WeightsRef fields of a config as objects (their paths are left out of dumps)."""
    return {k: v for k, v in config if isinstance(v, WeightsRef)}


def kept_clips(catalog: Catalog, limit: int | None = None) -> list[ClipRef]:
    rows = kept_clip_rows(catalog, limit)
    return [ClipRef(r["clip_id"], r["video_id"], r["start_frame"], r["end_frame"], r["uri"], r["width"], r["height"],
                    r["clip_uri"]) for r in rows]


@dataclass(frozen=True)
class ShardState:
    """One shard of clips and the artifact of each table computed for it so far."""

    clips: list[ClipRef]
    refs: dict[str, ArtifactRef]


def run_over_shards(stage_cls: type[Stage[Any, Any]], config: StageConfig, shards: list[ShardState],
                    needs: tuple[str, ...], catalog: Catalog) -> list[ShardState]:
    """Run a downstream stage once per shard, keyed by the content of the upstream artifacts it reads."""
    items, keys = [], []
    for shard in shards:
        tables = {name: catalog.artifacts.read(shard.refs[name].stage, shard.refs[name].key) for name in needs}
        items.append(AnnotatedShard(shard.clips, tables, blob_root=str(catalog.root.uri)))
        keys.append(sha256_text(canonical_json([shard.refs[name].content_sha256 for name in needs])))
    jobs = plan(stage_cls, config, items, keys=keys, catalog=catalog, shard_size=1)
    by_clips = {tuple(c.clip_id for c in s.clips): s for s in shards}
    out = []
    for job, ref in zip(jobs, run_jobs(jobs), strict=True):
        before = by_clips[tuple(c.clip_id for c in job.inputs[0].clips)]
        out.append(ShardState(before.clips, {**before.refs, stage_cls.table: ref}))
    return out


@flow(name="annotate-clips", log_prints=True)
def annotate_flow(params: AnnotateParams) -> FlowResult:
    configs = stage_configs(params)
    catalog = Catalog(params.catalog)
    clips = kept_clips(catalog, params.limit)
    if not clips:
        print("no kept clips to annotate (run the curate flow first)")
        return FlowResult()
    jobs = plan(DetectStage, configs.detect, clips, keys=[c.content_key for c in clips], catalog=catalog,
                shard_size=params.shard_size)
    shards = [ShardState(job.inputs, {DETECTIONS: ref}) for job, ref in zip(jobs, run_jobs(jobs), strict=True)]
    shards = run_over_shards(PoseStage, configs.pose, shards, (DETECTIONS,), catalog)
    shards = run_over_shards(BodyFitStage, configs.body_fit, shards, (POSES,), catalog)
    shards = run_over_shards(PartMasksStage, configs.part_masks, shards, (DETECTIONS, BODY_FITS, POSES), catalog)
    return FlowResult(refs=[s.refs[stage.table] for stage in (DetectStage, PoseStage, BodyFitStage, PartMasksStage)
                            for s in shards])
