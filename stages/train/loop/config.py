"""Settings of the training loop (orchestration-free: no GPUs, retries or schedules here)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from physflow.stages.base import StageConfig


class LoopConfig(StageConfig):
    steps: int = Field(200, ge=1, le=10_000_000, description="Optimizer steps in total (a resumed run continues to this).")
    batch_size: int = Field(2, ge=1, le=4096, description="Samples per device per step.")
    grad_accum: int = Field(1, ge=1, le=1024, description="Micro-batches accumulated per optimizer step.")
    lr: float = Field(1e-3, gt=0, le=1, description="AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0, le=1, description="AdamW weight decay.")
    warmup_steps: int = Field(0, ge=0, le=1_000_000, description="Linear learning-rate warm-up steps.")
    max_grad_norm: float = Field(1.0, gt=0, le=1e6, description="Gradient clipping norm.")
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = Field(
        "auto", description="'auto': bf16 on a GPU, full precision on CPU.")
    gradient_checkpointing: bool = Field(False, description="Recompute the denoiser's activations in backward to "
                                         "save memory (diffusers' enable_gradient_checkpointing).")
    vae_slicing: bool = Field(True, description="VAE encode/decode one video of the batch at a time (same output up "
                              "to float rounding; less peak memory at batch > 1).")
    vae_tiling: bool = Field(False, description="VAE encode/decode in overlapping spatial tiles (diffusers' tiling: "
                             "frames over 256 px; slightly changes latents at the seams). The SVD base's VAE has none.")
    text_encoder_offload: bool = Field(True, description="Load the text encoder only to embed captions missing from "
                                       "the embedding store, and free it after (False: keep it resident once loaded).")
    ema: bool = Field(False, description="Keep an exponential moving average of the trained weights.")
    ema_decay: float = Field(0.999, ge=0, lt=1, description="EMA decay per step.")
    save_every: int = Field(100, ge=1, le=10_000_000, description="Save a checkpoint every this many steps (and at the end).")
    keep_checkpoints: int = Field(3, ge=1, le=1000, description="Checkpoint folders kept per run (older ones removed).")
    log_every: int = Field(10, ge=1, le=1_000_000, description="Log metrics to TensorBoard every this many steps.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of model init, noise and data order.")
    num_workers: int = Field(0, ge=0, le=64, description="DataLoader worker processes.")
    sample_steps: int = Field(8, ge=1, le=1000, description="Sampler steps for evaluation samples.")
