"""RAFT optical flow (torchvision's `raft_small` / `raft_large`) loaded from a local state-dict file.

The file is what `torch.save(model.state_dict(), path)` writes for a torchvision RAFT model, e.g. the
Raft_Small_Weights / Raft_Large_Weights file saved as a state dict and named in the registry as "raft".
Nothing is downloaded: the architecture is built with `weights=None` and the file is loaded strictly;
missing keys, unexpected keys and shape mismatches fail naming them (and the variant the file fits, if
the other one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torchvision.models.optical_flow import RAFT, raft_large, raft_small

from physflow.models.registry import WeightsRegistry

RaftVariant = Literal["raft_small", "raft_large"]
_BUILDERS: dict[str, Callable[..., RAFT]] = {"raft_small": raft_small, "raft_large": raft_large}
_SHOWN = 5
_MIN_SIDE = 128


class RaftWeightsError(ValueError):
    """A weights file that is not a state dict of the requested torchvision RAFT variant."""


def build_raft(variant: RaftVariant) -> RAFT:
    """The randomly initialised architecture (no download)."""
    if variant not in _BUILDERS:
        raise ValueError(f"unknown RAFT variant {variant!r}; known: {', '.join(_BUILDERS)}")
    return _BUILDERS[variant](weights=None, progress=False)


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RaftWeightsError(f"RAFT weights {path}: not a readable torch state dict ({exc})") from exc
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise RaftWeightsError(f"RAFT weights {path}: expected a state dict of tensors, got {type(obj).__name__}")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _mismatches(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]) -> list[str]:
    problems = []
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shapes = [
        f"{k} {tuple(found[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items() if k in found and found[k].shape != v.shape
    ]
    for label, names in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
        if names:
            more = f" (+{len(names) - _SHOWN} more)" if len(names) > _SHOWN else ""
            problems.append(f"{len(names)} {label}: {', '.join(names[:_SHOWN])}{more}")
    return problems


def load_raft(path: str | os.PathLike[str], variant: RaftVariant) -> RAFT:
    """The RAFT `variant` with the weights in `path`; a file of another layout fails with a clear message."""
    path = Path(path)
    found = _state_dict(path)
    model = build_raft(variant)
    problems = _mismatches(model.state_dict(), found)
    if problems:
        hint = ""
        other = "raft_large" if variant == "raft_small" else "raft_small"
        if not _mismatches(build_raft(other).state_dict(), found):
            hint = f" The file is a {other} state dict: set the RAFT model to {other!r}."
        raise RaftWeightsError(
            f"RAFT weights {path} do not fit torchvision {variant}: {'; '.join(problems)}.{hint}"
        )
    model.load_state_dict(found, strict=True)
    return model.eval()


class RaftFlow:
    """Batched RAFT inference on uint8 RGB frames; frames are padded (multiple of 8, at least 128) and cropped back."""

    def __init__(self, model: RAFT, device: str = "cpu", iters: int = 12):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.iters = iters

    @classmethod
    def from_registry(
        cls, registry: WeightsRegistry, variant: RaftVariant, device: str = "cpu", iters: int = 12
    ) -> RaftFlow:
        """Load the file registered as "raft"; fails naming the file to provide when none is configured."""
        return cls(load_raft(registry.require("raft").path, variant), device, iters)

    def _prepare(self, frames: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2).float()
        x = x / 127.5 - 1.0  # torchvision's RAFT expects [-1, 1]
        h, w = x.shape[-2:]
        # RAFT needs sides divisible by 8 and at least 128 (its 4-level correlation pyramid at 1/8 scale).
        pad_h, pad_w = max(_MIN_SIDE, h + (-h) % 8) - h, max(_MIN_SIDE, w + (-w) % 8) - w
        return torch.nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")

    @torch.inference_mode()
    def __call__(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Flow from `first` to `second`: (B, H, W, 3) uint8 each -> (B, H, W, 2) float32 in pixels."""
        if first.shape != second.shape or first.ndim != 4 or first.shape[-1] != 3:
            raise ValueError(f"RAFT needs two (B, H, W, 3) batches of equal shape, got {first.shape}, {second.shape}")
        h, w = first.shape[1:3]
        flows = self.model(self._prepare(first), self._prepare(second), num_flow_updates=self.iters)
        return flows[-1][:, :, :h, :w].permute(0, 2, 3, 1).float().cpu().numpy()
