"""train-model: build the training snapshot from the catalog, run the train stage, register its checkpoint rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog, cache_key, canonical_json
from physflow.data_catalog.keys import sha256_text
from physflow.data_catalog.schemas import CHECKPOINTS, TEXT_EMBEDDINGS
from physflow.flows.ingest import DEFAULT_CATALOG
from physflow.flows.prefect_flow import flow
from physflow.models.registry import WeightsRegistry
from physflow.models.text_store import EmbeddingStore, encoder_sha256
from physflow.stages.train import TrainConfig, TrainInputs, TrainStage, run_id_for
from physflow.stages.train.data import DataConfig, TrainingSnapshot, load_snapshot
from physflow.stages.train.loop import LoopConfig
from physflow.stages.train.loop.checkpoints import CHECKPOINTS_DIR
from physflow.stages.train.recipes import RecipeConfig, VideoJAMConfig


class TrainParams(BaseModel):
    """Parameters of the train flow: one recipe (selected by its `recipe` field), data and loop settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder.")
    recipe: RecipeConfig = Field(default_factory=VideoJAMConfig, description="revision | videojam | wisa | diffphy.")
    data: DataConfig = Field(default_factory=DataConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    run_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$",
                               description="Run folder name; default derived from the settings and data snapshot.")
    weights_config: str | None = Field(None, description="physflow.toml holding the weights registry (default ./physflow.toml).")


class TrainSummary(BaseModel):
    run_id: str
    steps: int
    resumed_from: int | None
    checkpoint_ids: list[str]
    first_loss: float | None
    last_loss: float | None
    metrics: dict[str, Any]
    snapshot: dict[str, int]


def stage_config(params: TrainParams, registry: WeightsRegistry) -> TrainConfig:
    """The stage's config, with the `video-base` folder resolved (a missing base fails here, before any work)."""
    folder = str(registry.require("video-base").path) if params.recipe.base == "video-base" else None
    return TrainConfig(recipe=params.recipe, data=params.data, loop=params.loop, run_id=params.run_id,
                       base_folder=folder).with_data_needs()


def register_checkpoints(catalog: Catalog, table: pa.Table, snapshot_keys: list[str]) -> list[str]:
    """Register each checkpoint row as its own artifact (keyed by run and step: registering again is a no-op)."""
    ids = []
    for row in table.to_pylist():
        sha = [row["weights_sha256"]] if row["weights_sha256"] else []
        key = cache_key(TrainStage.name, TrainStage.VERSION, {"run_id": row["run_id"], "step": row["step"]},
                        snapshot_keys, sha)
        manifest = catalog.artifacts.write(
            stage=TrainStage.name, version=TrainStage.VERSION, key=key, table_name=CHECKPOINTS,
            table=pa.Table.from_pylist([row], schema=table.schema), shard=row["checkpoint_id"],
            config={"run_id": row["run_id"], "step": row["step"]}, inputs=snapshot_keys, weights=sha,
            stats={"step": row["step"]},
        )
        catalog.register(manifest)
        ids.append(row["checkpoint_id"])
    return ids


def embedding_store(catalog: Catalog, config: TrainConfig) -> EmbeddingStore | None:
    """The catalog's prompt embeddings for the base's text encoder (Wan bases; None for bases without one)."""
    if config.base_folder is None or config.recipe.recipe == "revision":
        return None  # the hash embedder (tiny) and SVD's CLIP image embedding are computed per batch
    sha = encoder_sha256(Path(config.base_folder))
    try:
        rows = catalog.query(f"SELECT text_sha256, uri FROM {TEXT_EMBEDDINGS} WHERE encoder_sha256 = ? AND "
                             "error IS NULL", [sha]).to_pylist()
    except duckdb.CatalogException:  # a catalog written before the table existed: its first write adds the view
        rows = []
    return EmbeddingStore(str(catalog.root.uri), {r["text_sha256"]: r["uri"] for r in rows})


def register_embeddings(catalog: Catalog, rows: list[dict[str, Any]]) -> None:
    """Register the prompt embeddings a run encoded as one `text_embeddings` artifact of the train stage (its
    shard names the encoder and texts, so every such artifact stays current; the view keeps one row per key)."""
    if not rows:
        return
    texts = sorted({(r["encoder_sha256"], r["text_sha256"]) for r in rows})
    key = cache_key(TrainStage.name, TrainStage.VERSION, {"table": TEXT_EMBEDDINGS}, [canonical_json(texts)])
    manifest = catalog.artifacts.write(
        stage=TrainStage.name, version=TrainStage.VERSION, key=key, table_name=TEXT_EMBEDDINGS,
        table=pa.Table.from_pylist(rows), shard=f"{TEXT_EMBEDDINGS}:{sha256_text(canonical_json(texts))[:32]}",
        config={"table": TEXT_EMBEDDINGS}, inputs=[], stats={"rows": len(rows)},
    )
    catalog.register(manifest)


def train_and_register(catalog: Catalog, config: TrainConfig, snapshot: TrainingSnapshot, *,
                       interrupt_at: int | None = None) -> tuple[TrainStage, list[str]]:
    """Run the train stage (resuming its run) and register the checkpoint rows and the prompt embeddings it
    returns (the embeddings even when training then fails); no Prefect needed."""
    stage = TrainStage(config, interrupt_at=interrupt_at)
    inputs = TrainInputs(snapshot, Path(catalog.root.local_path(CHECKPOINTS_DIR)), embedding_store(catalog, config))
    try:
        table = stage.run(inputs)
    finally:
        register_embeddings(catalog, stage.embedding_rows)
    return stage, register_checkpoints(catalog, table, snapshot.artifact_keys)


@task(name="train", cache_policy=NO_CACHE)
def train_task(catalog_root: str, config: TrainConfig, snapshot: TrainingSnapshot) -> TrainSummary:
    stage, ids = train_and_register(Catalog(catalog_root), config, snapshot)
    result = stage.result
    assert result is not None and stage.run_id is not None
    return TrainSummary(
        run_id=stage.run_id, steps=result.steps, resumed_from=result.resumed_from, checkpoint_ids=ids,
        first_loss=result.losses[0] if result.losses else None, last_loss=result.losses[-1] if result.losses else None,
        metrics=result.metrics, snapshot=snapshot.counts,
    )


@flow(name="train-model", log_prints=True)
def train_flow(params: TrainParams) -> TrainSummary:
    catalog = Catalog(params.catalog)
    config = stage_config(params, WeightsRegistry.load(params.weights_config))
    snapshot = load_snapshot(catalog, config.data)
    print(f"training set: {snapshot.counts} from {len(snapshot.artifact_keys)} artifacts; "
          f"run {run_id_for(config, snapshot.artifact_keys)}")
    summary = train_task(params.catalog, config, snapshot)
    create_table_artifact(
        key=f"train-{params.recipe.recipe}-metrics",
        table=[{"measure": k, "value": v} for k, v in sorted(summary.metrics.items())],
        description=f"run {summary.run_id}: {summary.steps} steps, checkpoints {summary.checkpoint_ids}",
    )
    return summary
