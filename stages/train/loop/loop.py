"""The training loop on accelerate: one CPU, one GPU or several with unchanged code; bf16 on GPU; gradient
checkpointing and EMA options; resumable checkpoints (safetensors weights, optimizer, RNG, data position)."""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.state import AcceleratorState
from accelerate.utils import ProjectConfiguration, set_seed
from diffusers.training_utils import EMAModel
from torch.utils.data import DataLoader, Dataset

from physflow.stages.train.loop.checkpoints import METRICS_FILE, commit_checkpoint, latest_checkpoint, step_dir
from physflow.stages.train.loop.config import LoopConfig
from physflow.stages.train.recipes.base import Recipe


@dataclass
class DataPosition:
    """Where the loop is in the data; saved with each checkpoint so a resumed run continues from there."""

    epoch: int = 0
    batch: int = 0
    step: int = 0

    def state_dict(self) -> dict[str, int]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.batch, self.step = state["epoch"], state["batch"], state["step"]


@dataclass
class TrainResult:
    steps: int
    resumed_from: int | None
    losses: list[float]  # one per optimizer step run in this call
    metrics: dict[str, float]
    saved: list[tuple[int, Path]] = field(default_factory=list)  # (step, committed checkpoint folder)


def _accelerator(cfg: LoopConfig, run: Path) -> Accelerator:
    cuda = torch.cuda.is_available()
    precision = ("bf16" if cuda else "no") if cfg.mixed_precision == "auto" else cfg.mixed_precision
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    # accelerate keeps one AcceleratorState per process and refuses a second run in another precision (a worker
    # process that trains run after run); the process-level PartialState (devices, ranks) stays as it is.
    if AcceleratorState._shared_state.get("_mixed_precision", precision) != precision:
        AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(
        cpu=not cuda, mixed_precision=precision, gradient_accumulation_steps=cfg.grad_accum,
        log_with="tensorboard" if tensorboard else None,
        project_config=ProjectConfiguration(project_dir=str(run), logging_dir=str(run / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )


def _prepare_batches(dataset: Dataset, cfg: LoopConfig, n: int = 4) -> list[dict[str, Any]]:
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=False)
    return [b for _, b in zip(range(n), loader, strict=False)]


def train(recipe: Recipe, dataset: Dataset, cfg: LoopConfig, run: Path, *, interrupt_at: int | None = None) -> TrainResult:
    """Train to `cfg.steps`, resuming from the run's latest checkpoint. `interrupt_at` (tests) raises
    KeyboardInterrupt after that step, as a killed run would stop."""
    run.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed)
    acc = _accelerator(cfg, run)
    latest = latest_checkpoint(run)
    prep = {} if latest else recipe.prepare(_prepare_batches(dataset, cfg))
    if cfg.gradient_checkpointing:
        recipe.enable_gradient_checkpointing()
    params = recipe.trainable_parameters()
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup_steps)))
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.num_workers,
                        generator=torch.Generator().manual_seed(cfg.seed))
    model, opt, loader, sched = acc.prepare(recipe, opt, loader, sched)
    pos = DataPosition()
    acc.register_for_checkpointing(pos)
    ema = EMAModel(params, decay=cfg.ema_decay) if cfg.ema else None
    if ema is not None:
        acc.register_for_checkpointing(ema)
    if latest:
        acc.load_state(str(latest[1]))
    acc.init_trackers("train", config={k: v for k, v in cfg.model_dump().items() if isinstance(v, int | float | str | bool)})
    result = TrainResult(steps=pos.step, resumed_from=latest[0] if latest else None, losses=[], metrics=dict(prep))
    parts = _Parts(acc, model, opt, sched, params, ema)
    start, start_step = time.perf_counter(), pos.step
    while pos.step < cfg.steps:
        loader.set_epoch(pos.epoch)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(pos.epoch)
        batches = acc.skip_first_batches(loader, pos.batch) if pos.batch else loader
        for batch in batches:
            _step(parts, batch, cfg, pos, result)
            if acc.sync_gradients and (pos.step % cfg.save_every == 0 or pos.step == cfg.steps):
                result.saved.append(_save(acc, run, pos.step, cfg, result))
            if interrupt_at is not None and pos.step >= interrupt_at:
                raise KeyboardInterrupt(f"interrupted at step {pos.step}")
            if pos.step >= cfg.steps:
                break
        else:
            pos.epoch, pos.batch = pos.epoch + 1, 0
    elapsed = time.perf_counter() - start
    result.steps = pos.step
    result.metrics["samples_per_s"] = (pos.step - start_step) * cfg.batch_size * cfg.grad_accum * acc.num_processes / max(elapsed, 1e-9)
    acc.end_training()
    return result


@dataclass
class _Parts:
    """What one optimizer step touches (all prepared by accelerate)."""

    acc: Accelerator
    model: Any
    opt: Any
    sched: Any
    params: list[torch.nn.Parameter]
    ema: EMAModel | None


def _step(parts: _Parts, batch: dict[str, Any], cfg: LoopConfig, pos: DataPosition, result: TrainResult) -> None:
    acc, model, opt, sched, params, ema = parts.acc, parts.model, parts.opt, parts.sched, parts.params, parts.ema
    with acc.accumulate(model):
        loss, logs = model(batch)
        acc.backward(loss)
        if acc.sync_gradients:
            acc.clip_grad_norm_(params, cfg.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad()
    pos.batch += 1
    if not acc.sync_gradients:
        return
    pos.step += 1
    if ema is not None:
        ema.step(params)
    value = float(acc.gather(loss.detach()).mean())
    result.losses.append(value)
    result.metrics.update({"loss": value, **logs})
    if pos.step % cfg.log_every == 0 or pos.step == cfg.steps:
        acc.log({"loss": value, **logs, "lr": sched.get_last_lr()[0]}, step=pos.step)


def _save(acc: Accelerator, run: Path, step: int, cfg: LoopConfig, result: TrainResult) -> tuple[int, Path]:
    final = step_dir(run, step)
    tmp = final.with_name(final.name + ".tmp")
    acc.wait_for_everyone()
    acc.save_state(str(tmp), safe_serialization=True)
    if acc.is_main_process:
        tail = result.losses[-cfg.log_every:] or [float("nan")]
        metrics = {**result.metrics, "loss_recent_mean": sum(tail) / len(tail), "step": step}
        (tmp / METRICS_FILE).write_text(json.dumps(metrics, sort_keys=True))
        commit_checkpoint(tmp, final, cfg.keep_checkpoints)
    return step, final
