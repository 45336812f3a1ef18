"""Opt-in GPU check (pytest -m gpu): VideoJAM at a realistic DiT size in bf16, reporting samples/s and memory."""

from __future__ import annotations

import pytest
import torch

from physflow.stages.train.data import DataConfig, load_snapshot
from physflow.stages.train.loop import LoopConfig
from physflow.stages.train.recipes import VideoJAMConfig
from tests.fixtures.train_run import run_training
from tests.fixtures.train_world import build_train_world

pytestmark = [pytest.mark.gpu, pytest.mark.timeout(900)]


def test_videojam_realistic_size_on_gpu(tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    catalog = build_train_world(tmp_path / "world", n_clips=8, frames=16, size=128)
    data = DataConfig(frames=16, size=128, require_flow=True)
    cfg = VideoJAMConfig.model_validate({"dit": {"heads": 12, "head_dim": 64, "layers": 12, "ffn_dim": 3072,
                                                 "text_dim": 512}})
    loop = LoopConfig(steps=30, batch_size=2, lr=1e-4, save_every=30, gradient_checkpointing=True)
    torch.cuda.reset_peak_memory_stats()
    _, result = run_training(catalog, cfg, data, loop, load_snapshot(catalog, data))
    peak_gib = torch.cuda.max_memory_allocated() / 2**30
    print(f"videojam 12x768 DiT, 16x128x128, bf16: {result.metrics['samples_per_s']:.2f} samples/s, peak {peak_gib:.1f} GiB")
    assert result.steps == 30 and all(torch.isfinite(torch.tensor(result.losses)))
