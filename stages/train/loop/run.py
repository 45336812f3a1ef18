"""One training run end to end without Prefect: recipe + dataset + loop, a `checkpoints` row per save; and
loading a registered checkpoint back into its recipe (what the generate flow calls)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from safetensors.torch import load_file

from physflow.data_catalog import Catalog
from physflow.data_catalog.keys import canonical_json, sha256_text
from physflow.models.registry import WeightsRegistry
from physflow.stages.train.data import DataConfig, TrainDataset, TrainingSnapshot
from physflow.stages.train.loop.checkpoints import register_checkpoint, run_dir
from physflow.stages.train.loop.config import LoopConfig
from physflow.stages.train.loop.loop import TrainResult, train
from physflow.stages.train.recipes import Recipe, RecipeConfig, build_recipe


def run_id_for(recipe: Any, data: DataConfig, loop: LoopConfig, snapshot_keys: list[str]) -> str:
    """A run's identity: recipe, data and seed settings and the data snapshot (not the step count, so a
    longer run of the same settings resumes the shorter one)."""
    payload = {"recipe": recipe, "data": data, "seed": loop.seed, "batch": loop.batch_size, "snapshot": snapshot_keys}
    return f"{recipe.recipe}-{sha256_text(canonical_json(payload))[:12]}"


def _config_record(recipe: Any, data: DataConfig, loop: LoopConfig) -> dict[str, Any]:
    return {"recipe": recipe.model_dump(mode="json"), "data": data.model_dump(mode="json"), "loop": loop.model_dump(mode="json")}


def run_training(
    catalog: Catalog, recipe_cfg: Any, data: DataConfig, loop: LoopConfig, snapshot: TrainingSnapshot, *,
    registry: WeightsRegistry | None = None, run_id: str | None = None, interrupt_at: int | None = None,
) -> tuple[str, TrainResult]:
    """Train (resuming the run if it has checkpoints) and register each saved checkpoint."""
    run_id = run_id or run_id_for(recipe_cfg, data, loop, snapshot.artifact_keys)
    recipe = build_recipe(recipe_cfg, data, registry, seed=loop.seed)
    dataset = TrainDataset(snapshot, data, seed=loop.seed)
    record = {"run_id": run_id, "recipe_cfg": recipe_cfg, "keys": snapshot.artifact_keys,
              "config": _config_record(recipe_cfg, data, loop), "n_samples": len(dataset)}
    on_save = partial(_register, catalog, record)
    result = train(recipe, dataset, loop, run_dir(catalog, run_id), on_save=on_save, interrupt_at=interrupt_at)
    return run_id, result


def _register(catalog: Catalog, record: dict[str, Any], step: int, folder: Path, metrics: dict[str, Any]) -> str:
    cfg = record["recipe_cfg"]
    return register_checkpoint(
        catalog, run_id=record["run_id"], recipe=cfg.recipe, base=cfg.base, folder=folder, step=step, metrics=metrics,
        snapshot_keys=record["keys"], config=record["config"], n_samples=record["n_samples"],
    )


def load_checkpoint(catalog: Catalog, checkpoint_id: str, registry: WeightsRegistry | None = None) -> tuple[Recipe, dict[str, Any]]:
    """The recipe module of a registered checkpoint with its weights loaded, and the checkpoint's row."""
    rows = catalog.query("SELECT * FROM checkpoints WHERE checkpoint_id = ?", [checkpoint_id]).to_pylist()
    if not rows:
        raise KeyError(f"no checkpoint {checkpoint_id!r} in catalog {catalog.root.uri}")
    row = rows[0]
    config = json.loads(row["config"])
    recipe_cfg = TypeAdapter(RecipeConfig).validate_python(config["recipe"])
    data = DataConfig.model_validate(config["data"])
    recipe = build_recipe(recipe_cfg, data, registry, seed=config["loop"]["seed"])
    state = load_file(str(Path(row["path"]) / "model.safetensors"))
    recipe.load_state_dict(state, strict=True)
    return recipe.eval(), row
