"""The video models phases 1 and 3 sample from, behind one interface.

`RevisionGenerator`: ReVision's mask-conditioned SVD UNet (models/revision_unet.py), image-to-video; the part
masks and their confidence enter through the UNet's two extra input channels. Text guidance is plain CFG.

`JointGenerator`: VideoJAM's joint appearance-motion DiT (models/video_dit.py) sampled with Inner-Guidance
(models/inner_guidance.py). The DiT has no first-frame or mask input, so both are imposed the way
image-to-video and motion control are done with a text-to-video model: at every Euler step the first latent
frame is replaced by the first frame's latent at the same noise level, and, in phase 3, the flow latent is
replaced by the latent of the optimised motion rendered as flow RGB at that noise level.

Both sample flow matching (x_t = (1 - t) x_0 + t noise, velocity u = noise - x_0) by Euler steps from t = 1
(uniform steps; a Wan-based VideoJAM checkpoint uses its scheduler's shifted sigmas and UMT5 embeddings, and a
Wan VAE's time compression). A ReVision checkpoint trained from a Stable Video Diffusion folder, and exported
pipeline folders, are served by stages/generate/pretrained.py (SVD's EDM sampler; Wan folders as JointGenerator).
Optimiser-free and gradient-free: every sampling call runs under no_grad. They run on the device of their
parameters; noise is drawn on the CPU from the request's seeded generator, so a seed names the same noise on
every device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from physflow.models.codec import PixelCodec
from physflow.models.inner_guidance import InnerGuidance, inner_guidance_velocity
from physflow.models.revision_unet import (
    MaskConditionedUNet,
    TinyUNetSize,
    build_tiny_unet,
    extend_for_masks,
    mask_channels,
)
from physflow.models.text_embed import HashTextEmbedder
from physflow.models.video_dit import JointDiT, TinyDiTSize, build_tiny_dit, extend_for_flow
from physflow.stages.common.annotation import LABEL_SCALE
from physflow.stages.generate.config import TINY_CHECKPOINTS, GuidanceConfig, is_pipeline_folder


@dataclass
class Condition:
    """What phase 1 or 3 conditions on, besides the prompt and the first frame."""

    labels: torch.Tensor | None = None  # [B, F, H, W] part labels (0 = none), pixel resolution
    confidence: torch.Tensor | None = None  # [B, F] confidence of each frame's labels (1 exact, 0.5 sketch, 0)
    flow_rgb: torch.Tensor | None = None  # [B, 3, F, H, W] in [-1, 1]: the wanted motion as flow RGB


def mask_input(cond: Condition, b: int, f: int, size: tuple[int, int], max_parts: int) -> torch.Tensor:
    """The UNet's mask channels [B, F, 2, h, w] (label / max_parts, confidence) for a condition; zeros if empty."""
    if cond.labels is None or cond.confidence is None:
        return torch.zeros(b, f, 2, *size)
    return mask_channels(cond.labels, cond.confidence, size, max_parts)


class RevisionGenerator(nn.Module):
    """ReVision: codec + mask-conditioned SVD UNet + text embedder (the modules of its training recipe)."""

    joint = False

    def __init__(self, codec: nn.Module, model: MaskConditionedUNet, text: HashTextEmbedder, max_parts: int = LABEL_SCALE):
        super().__init__()
        self.codec, self.model, self.text = codec, model, text
        self.max_parts = max_parts  # part labels are divided by this to form the mask channel, as in training

    @classmethod
    def tiny(cls, frames: int, seed: int = 0) -> RevisionGenerator:
        """A randomly initialised tiny model (the embedded default: no weights needed)."""
        codec = PixelCodec()
        unet = extend_for_masks(build_tiny_unet(codec.latent_channels, TinyUNetSize(), frames, seed))
        return cls(codec, MaskConditionedUNet(unet), HashTextEmbedder(unet.config.cross_attention_dim)).eval()

    @classmethod
    def from_recipe(cls, recipe: Any) -> RevisionGenerator:
        """The modules of a trained ReVision recipe (stages/train/recipes/revision.py); one trained from a Stable
        Video Diffusion folder samples with SVD's EDM sampler (stages/generate/pretrained.SvdRevisionGenerator)."""
        if getattr(recipe, "folder", None) is not None:
            from physflow.stages.generate.pretrained import SvdRevisionGenerator

            return SvdRevisionGenerator.from_recipe(recipe)  # type: ignore[return-value]
        return cls(recipe.codec, recipe.model, recipe.text, recipe.data.max_parts).eval()

    def _mask_input(self, cond: Condition, b: int, f: int, h: int, w: int) -> torch.Tensor:
        return mask_input(cond, b, f, (h, w), self.max_parts)

    @torch.no_grad()
    def sample(self, first: torch.Tensor, prompts: list[str], cond: Condition, *, frames: int, steps: int,
               guidance: GuidanceConfig, generator: torch.Generator) -> torch.Tensor:
        """first [B, 3, H, W] in [-1, 1] -> video [B, 3, F, H, W] in [-1, 1]."""
        z_first = self.codec.encode(first[:, :, None])[:, :, 0]  # [B, C, h, w]
        b, c, h, w = z_first.shape
        mask = self._mask_input(cond, b, frames, h, w).to(z_first)
        text, null = self.text(prompts).mean(1, keepdim=True), self.text([""] * b).mean(1, keepdim=True)
        text, null = text.to(z_first), null.to(z_first)
        x = torch.randn((b, frames, c, h, w), generator=generator).to(z_first)  # [B, F, C, h, w]
        ts = torch.linspace(1.0, 0.0, steps + 1, device=z_first.device)
        for i in range(steps):
            t = ts[i].expand(b)
            u = self.model(x, z_first, mask, t, text)
            if guidance.text > 0:
                u = (1 + guidance.text) * u - guidance.text * self.model(x, z_first, mask, t, null)
            x = x - (ts[i] - ts[i + 1]) * u
        return self.codec.decode(x.permute(0, 2, 1, 3, 4)).clamp(-1, 1)


class JointGenerator(nn.Module):
    """VideoJAM: codec + joint appearance-motion DiT + text embedder (the modules of its training recipe)."""

    joint = True

    def __init__(self, codec: nn.Module, model: JointDiT, text: Any, sigmas: Any = None):
        super().__init__()
        self.codec, self.model, self.text = codec, model, text
        self.sigmas = sigmas  # steps -> [steps + 1] sigmas of a pretrained base's scheduler (Wan's shift); None: uniform

    @classmethod
    def tiny(cls, seed: int = 0) -> JointGenerator:
        codec = PixelCodec()
        c = codec.latent_channels
        size = TinyDiTSize()
        dit = extend_for_flow(build_tiny_dit(c, size, seed), c)
        return cls(codec, JointDiT(dit, appearance_channels=c, flow_channels=c), HashTextEmbedder(size.text_dim)).eval()

    @classmethod
    def from_recipe(cls, recipe: Any) -> JointGenerator:
        """The modules of a trained VideoJAM recipe (stages/train/recipes/videojam.py); a Wan-based one samples on
        its scheduler's sigmas with its UMT5 embeddings, as the recipe does."""
        return cls(recipe.codec, recipe.model, recipe.text, recipe.sigmas if recipe.folder is not None else None).eval()

    @torch.no_grad()
    def sample(self, first: torch.Tensor, prompts: list[str], cond: Condition, *, frames: int, steps: int,
               guidance: GuidanceConfig, generator: torch.Generator) -> torch.Tensor:
        """first [B, 3, H, W] in [-1, 1] -> video [B, 3, F, H, W] in [-1, 1], Inner-Guidance at every step."""
        z_first = self.codec.encode(first[:, :, None])  # [B, C, 1, h, w]
        b, c, _, h, w = z_first.shape
        # A video VAE compresses time by `tf` (Wan: 4; 1 + tf (n - 1) frames <-> n latents): enough latent frames
        # for `frames`, the decoded surplus cut off, the target flow padded with its last frame to match.
        tf = int(getattr(self.codec, "temporal_factor", 1))
        latent_frames = -(-(frames - 1) // tf) + 1
        span = tf * (latent_frames - 1) + 1
        text, null = self.text(prompts).to(z_first), self.text([""] * b).to(z_first)
        x = torch.randn((b, c, latent_frames, h, w), generator=generator).to(z_first)
        d = torch.randn((b, self.model.flow_channels, latent_frames, h, w), generator=generator).to(z_first)
        d_target = None
        if cond.flow_rgb is not None:
            flow_rgb = cond.flow_rgb.to(z_first)
            pad = flow_rgb[:, :, -1:].expand(-1, -1, span - flow_rgb.shape[2], -1, -1)
            d_target = self.codec.encode(torch.cat([flow_rgb, pad], dim=2))
        noise_first = torch.randn(z_first.shape, generator=generator).to(z_first)
        noise_d = torch.randn(d.shape, generator=generator).to(z_first)
        weights = InnerGuidance(guidance.text, guidance.motion)
        ts = (torch.linspace(1.0, 0.0, steps + 1) if self.sigmas is None else self.sigmas(steps)).to(z_first.device)
        for i in range(steps):
            t = ts[i]
            x[:, :, :1] = (1 - t) * z_first + t * noise_first  # image-to-video by replacement
            if d_target is not None:
                d = (1 - t) * d_target + t * noise_d  # the wanted motion, at this noise level
            u_x, u_d = inner_guidance_velocity(self.model, x, d, t.expand(b), text, null_text=null, guidance=weights)
            x = x - (t - ts[i + 1]) * u_x
            if u_d is not None:
                d = d - (t - ts[i + 1]) * u_d
        x[:, :, :1] = z_first
        return self.codec.decode(x)[:, :, :frames].clamp(-1, 1)


def build_generator(checkpoint: str, frames: int, *, catalog_root: str | None = None, seed: int = 0) -> nn.Module:
    """The model named by `checkpoint`: an embedded tiny name, an exported diffusers pipeline folder (physflow
    export), or a checkpoint_id of the `checkpoints` table of the catalog at `catalog_root`, loaded by the train
    stage (stages/train/checkpoint.py)."""
    if checkpoint == "tiny-revision":
        return RevisionGenerator.tiny(frames, seed)
    if checkpoint == "tiny-videojam":
        return JointGenerator.tiny(seed)
    if is_pipeline_folder(checkpoint):
        from physflow.stages.generate.pretrained import generator_from_folder

        return generator_from_folder(Path(checkpoint))
    if catalog_root is None:
        raise ValueError(f"checkpoint {checkpoint!r} is not one of {', '.join(TINY_CHECKPOINTS)} and no catalog is given")
    from physflow.data_catalog import Catalog
    from physflow.stages.train.checkpoint import load_checkpoint

    recipe, row = load_checkpoint(Catalog(catalog_root), checkpoint)
    if row["recipe"] == "revision":
        return RevisionGenerator.from_recipe(recipe)
    if row["recipe"] == "videojam":
        return JointGenerator.from_recipe(recipe)
    raise ValueError(f"checkpoint {checkpoint!r} is a {row['recipe']!r} model; generation samples revision or videojam")
