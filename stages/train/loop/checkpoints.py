"""Checkpoint folders in the checkpoint store and the `checkpoints` rows that describe them.

Layout: `<store>/<run_id>/step-<NNNNNNNN>/` written by accelerate's save_state (model.safetensors, optimizer,
RNG states, the data position and EMA) plus `metrics.json`, into a temporary folder that is renamed when
complete, so a killed save leaves nothing that resume would pick up. The stage returns one row per complete
folder; the flow registers them.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from physflow.data_catalog.keys import file_sha256

CHECKPOINTS_DIR = "checkpoints"  # the checkpoint store, under the catalog root
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"


def step_dir(run: Path, step: int) -> Path:
    return run / f"step-{step:08d}"


def complete_checkpoints(run: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every complete step folder of a run, by step."""
    found = sorted(p for p in run.glob("step-*") if p.is_dir() and ".tmp" not in p.name)
    return [(int(p.name.split("-")[1]), p) for p in found]


def latest_checkpoint(run: Path) -> tuple[int, Path] | None:
    """The highest complete step folder of a run, or None."""
    found = complete_checkpoints(run)
    return found[-1] if found else None


def commit_checkpoint(tmp: Path, final: Path, keep: int) -> None:
    """Rename a finished temporary folder into place and drop the oldest beyond `keep`."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for _, old in complete_checkpoints(final.parent)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def checkpoint_row(folder: Path, step: int, *, run_id: str, recipe: str, base: str, snapshot_keys: list[str],
                   config: dict[str, Any], n_samples: int) -> dict[str, Any]:
    """The `checkpoints` row of one complete step folder."""
    weights, metrics = folder / WEIGHTS_FILE, folder / METRICS_FILE
    return {
        "checkpoint_id": f"{run_id}:{step}", "recipe": recipe, "base": base, "path": str(folder), "step": step,
        "metrics": metrics.read_text() if metrics.exists() else json.dumps({"step": step}),
        "data_snapshot": snapshot_keys,
        "created_at": datetime.fromtimestamp(folder.stat().st_mtime, UTC), "run_id": run_id,
        "config": json.dumps(config, sort_keys=True),
        "weights_sha256": file_sha256(weights) if weights.exists() else None, "n_samples": n_samples,
    }
