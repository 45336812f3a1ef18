"""physics-context: DiffPhy reasoning and WISA labels for clip captions and free prompts."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from physflow.data_catalog import Catalog, canonical_json
from physflow.data_catalog.fingerprints import FINGERPRINTS_FILE, FingerprintCache
from physflow.data_catalog.keys import cache_key, sha256_text
from physflow.flows.env import DEFAULT_CATALOG
from physflow.flows.inputs import content_sha256, resolve_inputs
from physflow.flows.prefect_flow import flow
from physflow.flows.results import FlowResult
from physflow.flows.runtime import StageJob, plan, run_jobs
from physflow.flows.weights import resolve_weights
from physflow.models.registry import WeightsRegistry
from physflow.stages.common.video_io import DEFAULT_FRAME_RATE, sniff_container
from physflow.stages.physics_context import PhysicsContextConfig, PhysicsContextStage, PhysicsItem, build_reasoner
from physflow.stages.physics_context.captions import (
    SIDECAR_SUFFIXES,
    TABLE_SUFFIXES,
    read_sidecar,
    read_table,
    sidecars_of,
)

ITEM_CACHE_FILE = "physics_context_cache.sqlite"


class PhysicsParams(BaseModel):
    """Parameters of the physics-context flow (validated by Prefect, also in the UI's run form)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompts: list[str] = Field(default_factory=list, max_length=1_000_000, description="Free text prompts.")
    captions: list[str] = Field(default_factory=list, description="Caption tables (.csv/.parquet), sidecar "
                                "files (.txt/.json), or videos / folders / globs whose sidecars hold captions.")
    from_catalog: bool = Field(False, description="Also enrich the captions the catalog holds (synthetic clips' "
                               "captions) for every ingested video.")
    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI.")
    shard_size: int = Field(256, ge=1, le=100_000, description="Average texts per cached shard.")
    physics: PhysicsContextConfig = Field(default_factory=PhysicsContextConfig)

    @model_validator(mode="after")
    def _some_input(self) -> PhysicsParams:
        if not self.prompts and not self.captions and not self.from_catalog:
            raise ValueError("give at least one prompt or caption source, or from_catalog")
        return self


def caption_items(sources: list[str], fingerprints: FingerprintCache) -> list[PhysicsItem]:
    """Caption items from tables, sidecar files, and videos (through their sidecars)."""
    items: list[PhysicsItem] = []
    videos: list[str] = []
    for source in sources:
        path = Path(source).expanduser()
        if path.suffix.lower() in TABLE_SUFFIXES and path.is_file():
            items += read_table(path)
        elif path.suffix.lower() in SIDECAR_SUFFIXES and path.is_file():
            video = next((p for p in sorted(path.parent.glob(f"{path.stem}.*"))
                          if p != path and p.suffix not in SIDECAR_SUFFIXES and sniff_container(p)), None)
            items += read_sidecar(path, fingerprints.sha256(video)[:16] if video else None)
        else:
            videos += resolve_inputs([source])[0]
    for video, sha in zip(videos, content_sha256(videos, fingerprints, DEFAULT_FRAME_RATE), strict=True):
        for sidecar in sidecars_of(Path(video)):
            items += read_sidecar(sidecar, sha[:16])
    return items


CATALOG_CAPTIONS_SQL = """
SELECT DISTINCT s.caption, s.video_id, NULL AS clip_id FROM synth_clips s JOIN videos v USING (video_id)
WHERE s.caption IS NOT NULL AND v.error IS NULL
UNION ALL
SELECT caption, video_id, clip_id FROM captions WHERE caption IS NOT NULL AND error IS NULL
ORDER BY video_id, clip_id
"""


def catalog_captions(catalog: Catalog) -> list[PhysicsItem]:
    """Captions already in the catalog: the synthetic world's per video, and the caption stage's per clip."""
    rows = catalog.query(CATALOG_CAPTIONS_SQL).to_pylist()
    return [PhysicsItem(r["caption"], "caption", r["clip_id"], r["video_id"]) for r in rows]


def resolve_config(config: PhysicsContextConfig, catalog: Catalog) -> PhysicsContextConfig:
    """Fill in what the flow knows: the per-item cache file and, for `local`, the registry's GGUF file."""
    update: dict[str, object] = {}
    if config.item_cache is None and catalog.root.is_local:
        update["item_cache"] = str(catalog.root.local_path(ITEM_CACHE_FILE))
    return resolve_weights(config.model_copy(update=update), WeightsRegistry.load())


@flow(name="physics-context", log_prints=True)
def physics_context_flow(params: PhysicsParams) -> FlowResult:
    catalog = Catalog(params.catalog)
    config = resolve_config(params.physics, catalog)
    fingerprints = FingerprintCache(Path(catalog.root.base) / FINGERPRINTS_FILE)
    items = [PhysicsItem(p) for p in params.prompts] + caption_items(params.captions, fingerprints)
    items = list(dict.fromkeys(items + (catalog_captions(catalog) if params.from_catalog else [])))
    if not items:
        print("no prompts or captions found: nothing to enrich")
        return FlowResult()
    build_reasoner(config).check()  # an unreachable service or a missing model fails here, before any work
    jobs = plan(PhysicsContextStage, config, items, keys=[identity_key(i) for i in items], catalog=catalog,
                shard_size=params.shard_size)
    return FlowResult(refs=run_jobs([with_content_keys(job, config) for job in jobs]))


def identity_key(item: PhysicsItem) -> str:
    """What a row stands for: a clip's caption is the same shard member whatever its text (a re-captioned clip
    supersedes its old row); a free prompt or video caption is its text."""
    if item.clip_id:
        return sha256_text(canonical_json({"clip_id": item.clip_id, "source": item.source}))
    return item.content_key()


def with_content_keys(job: StageJob, config: PhysicsContextConfig) -> StageJob:
    """The job's artifact key from its items' contents (a changed caption recomputes), its shard from identities."""
    keys = [item.content_key() for item in job.inputs]
    weights = PhysicsContextStage(config).weights_sha256()
    key = cache_key(PhysicsContextStage.name, PhysicsContextStage.VERSION, config, keys, weights)
    return job.model_copy(update={"input_keys": keys, "key": key})
