"""train: a training snapshot of the catalog -> one recipe trained -> a `checkpoints` row per checkpoint folder.

One work item is one run. The run's folder in the checkpoint store is named by `run_id` (default: derived from
the recipe, data and seed settings and the snapshot's artifact keys, not the step count), so a longer or killed
run of the same settings resumes from its latest complete checkpoint. The stage returns a row for every
complete checkpoint folder of the run (those of an earlier, killed call too); the flow registers them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from physflow.data_catalog.keys import canonical_json, sha256_text
from physflow.data_catalog.schemas import CHECKPOINTS
from physflow.models.text_store import EmbeddingStore
from physflow.stages.base import Stage
from physflow.stages.train.config import TrainConfig
from physflow.stages.train.data import TrainDataset, TrainingSnapshot
from physflow.stages.train.loop import TrainResult, complete_checkpoints, train
from physflow.stages.train.loop.checkpoints import checkpoint_row
from physflow.stages.train.recipes import build_recipe


@dataclass(frozen=True)
class TrainInputs:
    """The training set, the checkpoint store (a local folder) the run's folder goes in, and the store of prompt
    embeddings (the catalog's blobs and `text_embeddings` rows: computed once per caption and text encoder;
    None: in memory for this run, or with text_encoder_offload = false the encoder resident)."""

    snapshot: TrainingSnapshot
    store: Path
    text_store: EmbeddingStore | None = None


def run_id_for(config: TrainConfig, snapshot_keys: list[str]) -> str:
    """A run's identity: recipe, data and seed settings and the data snapshot (not the step count, so a
    longer run of the same settings resumes the shorter one)."""
    if config.run_id:
        return config.run_id
    payload = {"recipe": config.recipe, "data": config.data, "seed": config.loop.seed,
               "batch": config.loop.batch_size, "snapshot": snapshot_keys}
    return f"{config.recipe.recipe}-{sha256_text(canonical_json(payload))[:12]}"


class TrainStage(Stage[TrainConfig, TrainInputs]):
    name = "train"
    VERSION = 2
    Config = TrainConfig
    table = CHECKPOINTS

    def __init__(self, config: TrainConfig, *, interrupt_at: int | None = None):
        super().__init__(config)
        self.interrupt_at = interrupt_at  # tests: stop after this step, as a killed run would
        self.result: TrainResult | None = None  # the last run's losses and metrics, for the flow's summary
        self.run_id: str | None = None
        self.embedding_rows: list[dict[str, Any]] = []  # `text_embeddings` rows of the prompts this run encoded

    def items(self, inputs: TrainInputs) -> Sequence[TrainInputs]:
        return [inputs]

    def count_in(self, inputs: TrainInputs, items: Sequence[TrainInputs]) -> int:
        return len(inputs.snapshot.rows)

    def process(self, item: TrainInputs) -> Iterable[dict[str, Any]]:
        cfg = self.config
        self.run_id = run_id_for(cfg, item.snapshot.artifact_keys)
        recipe = self._recipe(item)
        if hasattr(recipe.text, "computed"):  # embed every caption (and the empty prompt) before training
            recipe.text(sorted({r.get("prompt") or "" for r in item.snapshot.rows} | {""}))
            self.embedding_rows = list(recipe.text.rows)
        dataset = TrainDataset(item.snapshot, cfg.data, seed=cfg.loop.seed)
        run = item.store / self.run_id
        self.result = train(recipe, dataset, cfg.loop, run, interrupt_at=self.interrupt_at)
        if hasattr(recipe.text, "computed"):
            self.result.metrics.update(text_encoded=recipe.text.computed, text_loaded=recipe.text.loaded,
                                       text_encoder_loads=recipe.text.encoder_loads)
        record = cfg.model_dump(mode="json")
        for step, path in complete_checkpoints(run):
            yield checkpoint_row(path, step, run_id=self.run_id, recipe=cfg.recipe.recipe, base=cfg.recipe.base,
                                 snapshot_keys=item.snapshot.artifact_keys, config=record, n_samples=len(dataset))

    def _recipe(self, item: TrainInputs) -> Any:
        """The recipe with the loop's memory options applied (an option the base cannot take fails here, before
        any caption is encoded or step run)."""
        cfg = self.config
        offload = cfg.loop.text_encoder_offload
        text_store = (replace(item.text_store, offload=offload) if item.text_store is not None
                      else EmbeddingStore(offload=True) if offload else None)
        folder = Path(cfg.base_folder) if cfg.base_folder else None
        recipe = build_recipe(cfg.recipe, cfg.data, folder, seed=cfg.loop.seed, text_store=text_store)
        recipe.set_memory(cfg.loop.vae_slicing, cfg.loop.vae_tiling)
        return recipe

    def error_rows(self, item: TrainInputs, reason: str) -> list[dict[str, Any]]:
        # One item is the whole run: its failure is the run's failure, not a row.
        raise RuntimeError(f"training run {self.run_id} failed: {reason}")
