"""The learned part of the generation physics prior: a tiny temporal denoiser over motion sequences.

`TemporalPrior` maps a (noisy) sequence of per-frame features [B, F, C] to its clean estimate. Used as a
prior, `prior_energy(x) = mean |x - D(x)|^2` is small on sequences that look like the training motion
(a denoising-autoencoder prior, "regularisation by denoising"). Objects use C = 3 (velocity in m/s);
bodies use C = 3 + 3 J (pelvis velocity, then joints relative to the pelvis, metres).

`train_temporal_prior` trains it on clean sequences by adding Gaussian jitter; the optimiser lives in that
function, not in the model. The train_prior stage trains one per kind on the catalog's annotations (the
`physics_priors` table); without those, the generate stage trains an object prior on synthetic sequences
(stages/generate/prior/synthetic.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import torch
from torch import nn


class TemporalPrior(nn.Module):
    """Residual 1-D conv denoiser. forward(x [B, F, C]) -> clean estimate [B, F, C]."""

    def __init__(self, channels: int, hidden: int = 32, kernel: int = 5, scale: float = 1.0):
        super().__init__()
        pad = kernel // 2
        self.channels, self.hidden, self.kernel = channels, hidden, kernel
        self.register_buffer("scale", torch.tensor(float(scale)))  # feature units per network unit
        self.inp = nn.Conv1d(channels, hidden, kernel, padding=pad)
        self.mid = nn.Conv1d(hidden, hidden, kernel, padding=2 * pad, dilation=2)
        self.out = nn.Conv1d(hidden, channels, kernel, padding=pad)
        nn.init.zeros_(self.out.weight)  # starts as the identity: an untrained prior pulls nowhere
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = (x / self.scale).transpose(1, 2)  # [B, C, F]
        r = torch.nn.functional.gelu(self.inp(h))  # [B, hidden, F]
        r = torch.nn.functional.gelu(self.mid(r)) + r  # [B, hidden, F]
        r = self.out(r)  # [B, C, F]
        return x + (r.transpose(1, 2) * self.scale)  # [B, F, C]

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Mean squared denoising residual of x [B, F, C], in (feature units / scale)^2."""
        return (((x - self(x)) / self.scale) ** 2).mean()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside: on tensors of a few thousand numbers extra threads only add
    overhead (30x slower measured with 2 threads on a loaded 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class PriorTraining:
    steps: int = 300  # optimiser steps
    batch: int = 16  # sequences per step
    lr: float = 3e-3  # Adam learning rate
    noise: float = 0.1  # std of the added jitter, in network units (feature / scale)
    seed: int = 0


def train_temporal_prior(model: TemporalPrior, sequences: torch.Tensor, training: PriorTraining) -> list[float]:
    """Fit `model` to denoise `sequences` [N, F, C]; returns the loss per step (the model is changed in place)."""
    if sequences.ndim != 3 or sequences.shape[2] != model.channels:
        raise ValueError(f"sequences must be [N, F, {model.channels}], got {tuple(sequences.shape)}")
    gen = torch.Generator().manual_seed(training.seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=training.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=training.steps)
    losses: list[float] = []
    model.train()
    with one_thread():
        for _ in range(training.steps):
            idx = torch.randint(0, sequences.shape[0], (training.batch,), generator=gen)
            clean = sequences[idx]  # [B, F, C]
            noisy = clean + torch.randn(clean.shape, generator=gen) * training.noise * model.scale
            loss = (((model(noisy) - clean) / model.scale) ** 2).mean()  # [] denoising error
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            scheduler.step()
            losses.append(loss.item())
    model.eval()
    return losses


def save_prior(model: TemporalPrior, path: str | IO[bytes]) -> None:
    """A torch state dict plus the constructor arguments (no pickled module)."""
    torch.save({"channels": model.channels, "hidden": model.hidden, "kernel": model.kernel,
                "state_dict": model.state_dict()}, path)


def load_prior(path: str | IO[bytes]) -> TemporalPrior:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = TemporalPrior(int(blob["channels"]), int(blob["hidden"]), int(blob["kernel"]))
    model.load_state_dict(blob["state_dict"])
    return model.eval()
