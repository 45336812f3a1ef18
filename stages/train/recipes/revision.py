"""ReVision: an SVD UNet (image-to-video) whose input conv gains zero-initialised part-mask and confidence
channels, trained with the 40/30/30 condition mix; by default only conv_in, the first block and the temporal
layers are fine-tuned. Objective: flow matching on the video latent given the first frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812  (the torch convention)

from physflow.models.codec import FrameVaeCodec, PixelCodec
from physflow.models.revision_unet import (
    MaskConditionedUNet,
    TinyUNetSize,
    build_tiny_unet,
    extend_for_masks,
    load_unet,
    select_trainable,
)
from physflow.models.text_embed import HashTextEmbedder
from physflow.stages.train.data.snapshot import DataConfig
from physflow.stages.train.recipes.base import Batch, Recipe, fm_loss, noise_like
from physflow.stages.train.recipes.conditions import EXACT, mix_conditions
from physflow.stages.train.recipes.config import RevisionConfig


class RevisionRecipe(Recipe):
    name = "revision"

    def __init__(self, config: RevisionConfig, data: DataConfig, folder: Path | None, seed: int):
        super().__init__()
        self.config, self.data = config, data
        if folder is None:
            self.codec = PixelCodec()
            size = TinyUNetSize(channels=config.channels, cross_dim=config.text_dim)
            unet = build_tiny_unet(self.codec.latent_channels, size, data.frames, seed)
        else:
            self.codec, unet = FrameVaeCodec.from_folder(folder), load_unet(folder)
        if config.use_masks:
            extend_for_masks(unet)
        select_trainable(unet, config.train_layers)
        self.model = MaskConditionedUNet(unet)
        self.text = HashTextEmbedder(unet.config.cross_attention_dim)

    def _latents(self, video: torch.Tensor) -> torch.Tensor:
        return self.codec.encode(video).permute(0, 2, 1, 3, 4)  # [B, F, C, h, w]

    def _condition(self, batch: Batch, like: torch.Tensor, probs: tuple[float, float, float]) -> torch.Tensor | None:
        if not self.config.use_masks:
            return None
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,))))  # follows torch's (checkpointed) RNG
        cond = mix_conditions(batch["masks"].cpu().float(), batch["mask_conf"].cpu().float(), probs, rng)
        b, f, _, h, w = like.shape
        if cond.shape[-2:] != (h, w):
            cond = F.interpolate(cond.flatten(0, 1), size=(h, w), mode="nearest").view(b, f, 2, h, w)
        return cond.to(like)

    def _context(self, prompts: list[str]) -> torch.Tensor:
        return self.text(prompts).mean(dim=1, keepdim=True)  # [B, 1, D]

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        x0 = self._latents(batch["video"])
        x_t, t, target = noise_like(x0)
        cond = self._condition(batch, x0, self.config.mask_mix)
        pred = self.model(x_t, x0[:, 0], cond, t, self._context(list(batch["prompt"])))
        loss = fm_loss(pred, target)
        return loss, {"loss_x": float(loss.detach())}

    @torch.no_grad()
    def sample(self, batch: Batch, steps: int, generator: torch.Generator) -> torch.Tensor:
        """Image-to-video from the batch's first frames, conditioned on its exact part masks (when used)."""
        x0 = self._latents(batch["video"])
        exact = tuple(1.0 if i == EXACT else 0.0 for i in range(3))
        cond = self._condition(batch, x0, exact)  # type: ignore[arg-type]
        context = self._context(list(batch["prompt"]))
        x = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
        ts = torch.linspace(1.0, 0.0, steps + 1)
        for i in range(steps):
            t = ts[i].expand(x.shape[0]).to(x.device)
            x = x - (ts[i] - ts[i + 1]) * self.model(x, x0[:, 0], cond, t, context)
        return self.codec.decode(x.permute(0, 2, 1, 3, 4)).clamp(-1, 1)
