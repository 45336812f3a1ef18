"""Loading a registered checkpoint back into its recipe module (what generation samples from)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file

from physflow.data_catalog import Catalog
from physflow.stages.train.config import TrainConfig
from physflow.stages.train.loop.checkpoints import WEIGHTS_FILE
from physflow.stages.train.recipes import Recipe, build_recipe


def load_checkpoint(catalog: Catalog, checkpoint_id: str) -> tuple[Recipe, dict[str, Any]]:
    """The recipe module of a registered checkpoint with its weights loaded, and the checkpoint's row. The base
    folder is the one the run trained from, as its row records."""
    rows = catalog.query("SELECT * FROM checkpoints WHERE checkpoint_id = ?", [checkpoint_id]).to_pylist()
    if not rows:
        raise KeyError(f"no checkpoint {checkpoint_id!r} in catalog {catalog.root.uri}")
    row = rows[0]
    config = TrainConfig.model_validate(json.loads(row["config"]))
    folder = Path(config.base_folder) if config.base_folder else None
    recipe = build_recipe(config.recipe, config.data, folder, seed=config.loop.seed)
    recipe.load_state_dict(load_file(str(Path(row["path"]) / WEIGHTS_FILE)), strict=True)
    return recipe.eval(), row
