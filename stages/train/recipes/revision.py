"""ReVision: an SVD UNet (image-to-video) whose input conv gains zero-initialised part-mask and confidence
channels, trained with the 40/30/30 condition mix; by default only conv_in, the first block and the temporal
layers are fine-tuned. Tiny base: flow matching on the video latent given the first frame. A Stable Video
Diffusion pipeline folder: SVD's own EDM objective and sampler (models/svd_base.py), which reproduces
StableVideoDiffusionPipeline.__call__ with the mask channels at their zero init (tests/models/test_svd_parity.py)."""

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
    edm_unet_call,
    extend_for_masks,
    load_unet,
    select_trainable,
)
from physflow.models.svd_base import (
    ClipImageEmbedder,
    SvdConditioning,
    edm_sample,
    edm_scalings,
    load_edm_scheduler,
    sample_sigmas,
)
from physflow.models.text_embed import HashTextEmbedder
from physflow.stages.train.data.snapshot import DataConfig
from physflow.stages.train.recipes.base import Batch, Recipe, fm_loss, noise_like
from physflow.stages.train.recipes.conditions import EXACT, mix_conditions
from physflow.stages.train.recipes.config import RevisionConfig

CONDITION_DROPOUT = 0.1  # samples trained without image condition, for SVD's classifier-free guidance


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
            self.image = ClipImageEmbedder.from_folder(folder)  # frozen, outside the checkpoint
        self.folder, self.svd = folder, SvdConditioning()
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

    def _first_latent(self, first: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """SVD's image condition: the noise-augmented first frame's latent, not scaled: [B, C, h, w]."""
        return self.codec.encode_frames(first + self.svd.noise_aug_strength * noise)

    def _edm_loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        video = batch["video"]
        x0, first = self._latents(video), video[:, :, 0]
        b = x0.shape[0]
        keep = (torch.rand(b, device=x0.device) >= CONDITION_DROPOUT).to(x0.dtype)  # zeros = SVD's uncond input
        first_latent = self._first_latent(first, torch.randn_like(first)) * keep.view(-1, 1, 1, 1)
        context = self.image(first) * keep.view(-1, 1, 1)
        sigma = sample_sigmas(b, x0.device).view(-1, 1, 1, 1, 1)
        c_skip, c_out, c_in, c_noise = edm_scalings(sigma)
        x = x0 + sigma * torch.randn_like(x0)
        cond = self._condition(batch, x0, self.config.mask_mix)
        pred = edm_unet_call(self.model, c_in * x, first_latent, cond, timestep=c_noise.flatten(), context=context,
                             time_ids=self.svd.time_ids(b, x0.dtype, x0.device))
        loss = fm_loss(pred, (x0 - c_skip * x) / c_out)  # = the x_0 loss weighted by 1 / c_out^2
        return loss, {"loss_x": float(loss.detach())}

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        if self.folder is not None:
            return self._edm_loss(batch)
        x0 = self._latents(batch["video"])
        x_t, t, target = noise_like(x0)
        cond = self._condition(batch, x0, self.config.mask_mix)
        pred = self.model(x_t, x0[:, 0], cond, t, self._context(list(batch["prompt"])))
        loss = fm_loss(pred, target)
        return loss, {"loss_x": float(loss.detach())}

    @torch.no_grad()
    def sample(self, batch: Batch, steps: int, generator: torch.Generator) -> torch.Tensor:
        """Image-to-video from the batch's first frames, conditioned on its exact part masks (when used)."""
        if self.folder is not None:
            return self._edm_sample(batch, steps, generator)
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

    @torch.no_grad()
    def _edm_sample(self, batch: Batch, steps: int, generator: torch.Generator) -> torch.Tensor:
        """SVD's sampler (models/svd_base.edm_sample) from the batch's first frames and exact part masks."""
        video = batch["video"]
        first, (b, _, f) = video[:, :, 0], video.shape[:3]
        context = self.image(first)
        first_latent = self._first_latent(first, torch.randn(first.shape, generator=generator).to(first))
        shape = (b, f, first_latent.shape[1], *first_latent.shape[-2:])  # [B, F, C, h, w]
        exact = tuple(1.0 if i == EXACT else 0.0 for i in range(3))
        cond = self._condition(batch, first_latent.new_zeros(shape), exact)  # type: ignore[arg-type]
        x = edm_sample(self.model, load_edm_scheduler(self.folder), first_latent, context, cond, frames=f, steps=steps,
                       generator=generator, time_ids=self.svd.time_ids(b, first_latent.dtype, first_latent.device))
        return self.codec.decode(x.permute(0, 2, 1, 3, 4)).clamp(-1, 1)
