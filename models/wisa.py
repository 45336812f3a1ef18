"""WISA physics conditioning for the video DiT: phenomenon labels and quantities as extra context tokens,
and a physics classifier head on the DiT's last-block features.

The 17 phenomena of WISA's taxonomy in three domains (DESIGN §7). Quantities (density kg/m^3, time s,
temperature K) are log-scaled; a missing quantity has mask 0 and value 0.
"""

from __future__ import annotations

import math

import torch
from torch import nn

PHENOMENA: tuple[str, ...] = (
    "collision", "rigid body motion", "elastic motion", "liquid motion", "gas motion", "deformation",
    "melting", "solidification", "vaporization", "liquefaction", "explosion", "combustion",
    "reflection", "refraction", "scattering", "interference and diffraction", "unnatural light sources",
)
QUANTITIES: tuple[str, ...] = ("density", "time", "temperature")


def multi_hot(labels: list[str]) -> torch.Tensor:
    """[17] float multi-hot of the known phenomena in `labels` (unknown names are ignored)."""
    out = torch.zeros(len(PHENOMENA))
    for label in labels:
        if label in PHENOMENA:
            out[PHENOMENA.index(label)] = 1.0
    return out


def quantity_vector(values: dict[str, float | None]) -> torch.Tensor:
    """[6]: log1p of each quantity, then a presence mask."""
    vals = [values.get(q) for q in QUANTITIES]
    logs = [math.log1p(max(float(v), 0.0)) if v is not None else 0.0 for v in vals]
    mask = [1.0 if v is not None else 0.0 for v in vals]
    return torch.tensor(logs + mask, dtype=torch.float32)


class PhysicsTokens(nn.Module):
    """Phenomena [B, 17] and quantities [B, 6] -> 2 context tokens [B, 2, D] appended to the text."""

    def __init__(self, dim: int):
        super().__init__()
        self.labels = nn.Linear(len(PHENOMENA), dim)
        self.quantities = nn.Sequential(nn.Linear(2 * len(QUANTITIES), dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, phenomena: torch.Tensor, quantities: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.labels(phenomena), self.quantities(quantities)], dim=1)  # [B, 2, D]


class PhysicsClassifier(nn.Module):
    """Mean-pooled DiT tokens [B, N, inner] -> phenomenon logits [B, 17]."""

    def __init__(self, inner_dim: int, hidden: int = 64):
        super().__init__()
        self.head = nn.Sequential(nn.LayerNorm(inner_dim), nn.Linear(inner_dim, hidden), nn.SiLU(),
                                  nn.Linear(hidden, len(PHENOMENA)))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(tokens.mean(dim=1))


class BlockFeatures:
    """Captures one module's output on each forward (a torch forward hook), for the classifier head."""

    def __init__(self, module: nn.Module):
        self.value: torch.Tensor | None = None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, _module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        self.value = output[0] if isinstance(output, tuple) else output

    def take(self) -> torch.Tensor:
        if self.value is None:
            raise RuntimeError("no features captured: run the model's forward first")
        value, self.value = self.value, None
        return value
