"""synth-world: render procedural physics clips with exact truth, ingest them, and measure their physics."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from physflow.data_catalog import Catalog
from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.keys import canonical_json, sha256_text
from physflow.flows.env import DEFAULT_CATALOG
from physflow.flows.ingest import IngestParams, ingest_flow
from physflow.flows.prefect_flow import flow
from physflow.flows.runtime import ArtifactRef, plan, run_jobs
from physflow.stages.ingest import IngestConfig
from physflow.stages.physics_metrics import MetricsItem, PhysicsMetricsConfig, PhysicsMetricsStage
from physflow.stages.synth import SCENE_KINDS, SynthConfig, SynthItem, SynthStage, SynthTruthStage


class SynthParams(BaseModel):
    """Parameters of the synth flow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = Field(14, ge=1, le=100_000, description="Clips to make; scene kinds are taken in turn.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the whole set; clip i uses seed * 1000003 + i.")
    scenes: list[str] = Field(default_factory=lambda: list(SCENE_KINDS), min_length=1,
                              description="Scene kinds to cycle through.")
    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI.")
    shard_size: int = Field(16, ge=1, le=100_000, description="Average clips per cached shard.")
    synth: SynthConfig = Field(default_factory=SynthConfig)
    metrics: PhysicsMetricsConfig | None = Field(default_factory=PhysicsMetricsConfig,
                                                 description="Physics-metrics config; None skips measuring.")
    ingest: bool = Field(True, description="Also ingest the rendered videos into the `videos` table.")

    @field_validator("scenes")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if s not in SCENE_KINDS]
        if bad:
            raise ValueError(f"unknown scene kinds {bad}; known: {', '.join(SCENE_KINDS)}")
        return v


def synth_items(params: SynthParams) -> list[SynthItem]:
    return [SynthItem(index=i, scene=params.scenes[i % len(params.scenes)], seed=params.seed * 1_000_003 + i,
                      catalog_root=params.catalog) for i in range(params.n)]


def _rows(catalog: Catalog, refs: list[ArtifactRef]) -> list[dict[str, Any]]:
    """The rows of these artifacts, blob references resolved to locations under the catalog."""
    blobs = BlobStore(catalog.root)
    return [blobs.resolve_row(row) for ref in refs for row in catalog.artifacts.read(ref.stage, ref.key).to_pylist()]


@flow(name="synth-world", log_prints=True)
def synth_flow(params: SynthParams) -> list[ArtifactRef]:
    catalog = Catalog(params.catalog)
    items = synth_items(params)
    keys = [sha256_text(canonical_json({"scene": it.scene, "seed": it.seed})) for it in items]
    refs = run_jobs(plan(SynthStage, params.synth, items, keys=keys, catalog=catalog, shard_size=params.shard_size))
    clips = [r for r in _rows(catalog, refs) if not r.get("error")]
    if not clips:
        return refs
    clip_keys = [c["sha256"] for c in clips]
    refs += run_jobs(plan(SynthTruthStage, params.synth, clips, keys=clip_keys, catalog=catalog,
                          shard_size=params.shard_size))
    if params.ingest:
        refs += ingest_flow.fn(IngestParams(inputs=[c["uri"] for c in clips], catalog=params.catalog,
                                            shard_size=params.shard_size, ingest=IngestConfig(decode_check="first")))
    if params.metrics is not None:
        measured = [MetricsItem(clip_id=c["clip_id"], uri=c["uri"], end_frame=c["n_frames"], fps=c["fps"],
                                ppm=c["ppm"], truth=c) for c in clips]
        refs += run_jobs(plan(PhysicsMetricsStage, params.metrics, measured, keys=clip_keys, catalog=catalog,
                              shard_size=params.shard_size))
    return refs
