"""train-model: build the training snapshot from the catalog, train one recipe, register its checkpoints."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog
from physflow.flows.ingest import DEFAULT_CATALOG
from physflow.models.registry import WeightsRegistry
from physflow.stages.train.data import DataConfig, TrainingSnapshot, load_snapshot
from physflow.stages.train.loop import LoopConfig
from physflow.stages.train.loop.run import run_id_for, run_training
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


def data_for(params: TrainParams) -> DataConfig:
    """The data settings the recipe needs: VideoJAM with flow trains only on clips that have flow."""
    if params.recipe.recipe == "videojam" and params.recipe.use_flow and not params.data.require_flow:
        return params.data.model_copy(update={"require_flow": True})
    return params.data


@task(name="train", cache_policy=NO_CACHE)
def train_task(params: TrainParams, snapshot: TrainingSnapshot, registry: WeightsRegistry) -> TrainSummary:
    catalog = Catalog(params.catalog)
    data = data_for(params)
    run_id, result = run_training(catalog, params.recipe, data, params.loop, snapshot, registry=registry,
                                   run_id=params.run_id)
    return TrainSummary(
        run_id=run_id, steps=result.steps, resumed_from=result.resumed_from,
        checkpoint_ids=[str(cid) for _, _, cid in result.saved if cid],
        first_loss=result.losses[0] if result.losses else None, last_loss=result.losses[-1] if result.losses else None,
        metrics=result.metrics, snapshot=snapshot.counts,
    )


@flow(name="train-model", log_prints=True)
def train_flow(params: TrainParams) -> TrainSummary:
    catalog = Catalog(params.catalog)
    registry = WeightsRegistry.load(params.weights_config)
    if params.recipe.base == "video-base":
        registry.require("video-base")  # a missing base fails here, before any work
    snapshot = load_snapshot(catalog, data_for(params))
    print(f"training set: {snapshot.counts} from {len(snapshot.artifact_keys)} artifacts; run "
          f"{params.run_id or run_id_for(params.recipe, data_for(params), params.loop, snapshot.artifact_keys)}")
    summary = train_task(params, snapshot, registry)
    create_table_artifact(
        key=f"train-{params.recipe.recipe}-metrics",
        table=[{"measure": k, "value": v} for k, v in sorted(summary.metrics.items())],
        description=f"run {summary.run_id}: {summary.steps} steps, checkpoints {summary.checkpoint_ids}",
    )
    return summary
