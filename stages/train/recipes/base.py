"""What every recipe shares: the Recipe module interface, the flow-matching objective and model building.

Flow matching (rectified flow): x_t = (1 - t) x_0 + t * noise with t ~ logit-normal, the model predicts the
velocity u = noise - x_0, and x_0 is estimated as x_t - t * u.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812  (the torch convention)
from torch import nn

from physflow.models.codec import PixelCodec, VaeCodec
from physflow.models.text_store import EmbeddingStore
from physflow.models.video_dit import TinyDiTSize, build_tiny_dit, load_dit
from physflow.models.wan_base import shifted_sigmas
from physflow.stages.train.data.snapshot import DataConfig

Batch = dict[str, Any]


class Recipe(nn.Module, ABC):
    """All modules of one method; `loss` is one training step's objective, `sample` generates videos."""

    name: str

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The training objective; called through forward so DDP and autocast wrappers apply."""
        return self.loss(batch)

    @abstractmethod
    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The scalar loss and its logged parts for one batch (uses torch's global RNG)."""

    @abstractmethod
    def sample(self, batch: Batch, steps: int, generator: torch.Generator) -> torch.Tensor:
        """Videos [B, 3, F, H, W] in [-1, 1] for the batch's prompts (and its first frames / conditions)."""

    def prepare(self, batches: list[Batch]) -> dict[str, float]:
        """Work before the main loop (e.g. fitting a judge); returns metrics. Default: nothing."""
        return {}

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def enable_gradient_checkpointing(self) -> None:
        """On the trained denoiser (`self.model`): its outermost diffusers model that supports it (frozen VAEs and
        encoders take no gradients, and Wan's VAE refuses the option)."""
        model = next((m for m in self.model.modules() if getattr(m, "_supports_gradient_checkpointing", False)), None)
        if model is None:
            raise ValueError(f"gradient_checkpointing: the {self.name} recipe's denoiser "
                             f"({type(self.model).__name__}) has no diffusers model that supports it")
        model.enable_gradient_checkpointing()

    def set_memory(self, slicing: bool, tiling: bool) -> None:
        """VAE slicing / tiling of the recipe's codec (a VAE without the option fails naming the field)."""
        self.codec.set_memory(slicing, tiling)


def noise_like(x0: torch.Tensor, shift: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_t, t [B], target velocity) for a clean batch x0 [B, ...]; t is logit-normal in (0, 1), then moved by
    the base scheduler's time shift (Wan: shift t / (1 + (shift - 1) t), more steps at high noise)."""
    t = shifted_sigmas(torch.sigmoid(torch.randn(x0.shape[0], device=x0.device)), shift)
    noise = torch.randn_like(x0)
    tb = t.view(-1, *([1] * (x0.dim() - 1)))
    return (1 - tb) * x0 + tb * noise, t, noise - x0


def fm_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred.float(), target.float())


def x0_from_velocity(x_t: torch.Tensor, t: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    return x_t - t.view(-1, *([1] * (x_t.dim() - 1))) * u


def drop_prompts(prompts: list[str], p: float) -> list[str]:
    """Replace each prompt by the empty prompt with probability p (classifier-free guidance training)."""
    keep = torch.rand(len(prompts)) >= p
    return [q if k else "" for q, k in zip(prompts, keep.tolist(), strict=True)]


BASE_PIPELINES = {"revision": "StableVideoDiffusionPipeline", "videojam": "WanPipeline", "wisa": "WanPipeline",
                  "diffphy": "WanPipeline"}


def pipeline_class(folder: Path) -> str | None:
    """The pipeline class a diffusers folder's model_index.json names; None when it has none."""
    index = folder / "model_index.json"
    return json.loads(index.read_text()).get("_class_name") if index.is_file() else None


def check_pipeline_folder(folder: Path, expected: str) -> None:
    """Fail before any work unless `folder` is a diffusers pipeline folder of the class the recipe needs."""
    found = pipeline_class(folder)
    if found is None:
        raise ValueError(f"base folder {folder} has no model_index.json: the video-base must be a diffusers pipeline "
                         f"folder ({expected}, saved with save_pretrained)")
    if found != expected:
        raise ValueError(f"base folder {folder} holds a {found}; this recipe trains a {expected}")


def build_dit(size: Any, folder: Path | None, seed: int) -> tuple[nn.Module, nn.Module]:
    """(codec, Wan DiT): pixel codec + tiny DiT, or the base folder's VAE + transformer."""
    if folder is None:
        codec = PixelCodec()
        tiny = TinyDiTSize(heads=size.heads, head_dim=size.head_dim, layers=size.layers, ffn_dim=size.ffn_dim,
                           text_dim=size.text_dim, freq_dim=32)
        return codec, build_tiny_dit(codec.latent_channels, tiny, seed)
    return VaeCodec.from_folder(folder), load_dit(folder)


def build_recipe(config: Any, data: DataConfig, folder: Path | None = None, seed: int = 0,
                 text_store: EmbeddingStore | None = None) -> Recipe:
    """The recipe module for a recipe config (imports each recipe lazily); `folder` is the local base pipeline
    folder for base 'video-base', None for 'tiny'; `text_store` where prompt embeddings are stored (Wan; None: the encoder stays resident)."""
    if (folder is None) != (config.base == "tiny"):
        raise ValueError(f"recipe base {config.base!r} with base folder {folder}: 'tiny' takes none, 'video-base' one")
    if folder is not None:
        check_pipeline_folder(folder, BASE_PIPELINES[config.recipe])
    if config.recipe == "revision":
        from physflow.stages.train.recipes.revision import RevisionRecipe

        return RevisionRecipe(config, data, folder, seed)
    if config.recipe == "videojam":
        from physflow.stages.train.recipes.videojam import VideoJAMRecipe

        return VideoJAMRecipe(config, data, folder, seed, text_store)
    if config.recipe == "wisa":
        from physflow.stages.train.recipes.wisa import WisaRecipe

        return WisaRecipe(config, data, folder, seed, text_store)
    from physflow.stages.train.recipes.diffphy import DiffPhyRecipe

    return DiffPhyRecipe(config, data, folder, seed, text_store)
