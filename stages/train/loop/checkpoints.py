"""Checkpoint folders under the catalog root and their `checkpoints` rows.

Layout: `checkpoints/<run_id>/step-<NNNNNNNN>/` written by accelerate's save_state (model.safetensors,
optimizer, RNG states, the data position and EMA) into a temporary folder that is renamed when complete, so
a killed save leaves nothing that resume would pick up.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from physflow.data_catalog import Catalog, cache_key
from physflow.data_catalog.keys import file_sha256
from physflow.data_catalog.schemas import CHECKPOINTS, table_spec

CHECKPOINTS_DIR = "checkpoints"
STAGE = "train"
STAGE_VERSION = 1


def run_dir(catalog: Catalog, run_id: str) -> Path:
    return catalog.root.local_path(CHECKPOINTS_DIR, run_id)


def step_dir(run: Path, step: int) -> Path:
    return run / f"step-{step:08d}"


def latest_checkpoint(run: Path) -> tuple[int, Path] | None:
    """The highest complete step folder of a run, or None."""
    found = sorted(p for p in run.glob("step-*") if p.is_dir() and ".tmp" not in p.name)
    return (int(found[-1].name.split("-")[1]), found[-1]) if found else None


def commit_checkpoint(tmp: Path, final: Path, keep: int) -> None:
    """Rename a finished temporary folder into place and drop the oldest beyond `keep`."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    complete = sorted(p for p in final.parent.glob("step-*") if ".tmp" not in p.name)
    for old in complete[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def register_checkpoint(
    catalog: Catalog, *, run_id: str, recipe: str, base: str, folder: Path, step: int, metrics: dict[str, Any],
    snapshot_keys: list[str], config: dict[str, Any], n_samples: int,
) -> str:
    """Write and register one `checkpoints` row; returns its checkpoint_id."""
    weights = folder / "model.safetensors"
    sha = file_sha256(weights) if weights.exists() else None
    checkpoint_id = f"{run_id}:{step}"
    row = {
        "checkpoint_id": checkpoint_id, "recipe": recipe, "base": base, "path": str(folder), "step": step,
        "metrics": json.dumps(metrics, sort_keys=True), "data_snapshot": snapshot_keys,
        "created_at": datetime.now(UTC), "run_id": run_id, "config": json.dumps(config, sort_keys=True),
        "weights_sha256": sha, "n_samples": n_samples,
    }
    table = pa.Table.from_pylist([row], schema=table_spec(CHECKPOINTS).schema)
    key = cache_key(STAGE, STAGE_VERSION, {"run_id": run_id, "step": step}, snapshot_keys, [sha] if sha else [])
    manifest = catalog.artifacts.write(
        stage=STAGE, version=STAGE_VERSION, key=key, table_name=CHECKPOINTS, table=table, shard=checkpoint_id,
        config=config, inputs=snapshot_keys, weights=[sha] if sha else [], stats={"step": step},
    )
    catalog.register(manifest)
    return checkpoint_id
