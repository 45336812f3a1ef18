"""ReVision's motion-conditioned Stable-Video-Diffusion UNet (diffusers' UNetSpatioTemporalConditionModel).

The UNet's input conv gains two zero-initialised channels: the part-mask sequence (label / n_parts) and its
confidence map. With zero weights for those channels, a loaded pretrained UNet behaves exactly as before at
step 0 whatever masks are fed (tests/models/test_revision_unet.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from diffusers import UNetSpatioTemporalConditionModel
from torch import nn
from torch.nn import functional

MASK_CHANNELS = 2  # part mask, confidence


@dataclass(frozen=True)
class TinyUNetSize:
    channels: tuple[int, int] = (32, 32)
    heads: tuple[int, int] = (2, 4)
    cross_dim: int = 32
    time_embed_dim: int = 8


def build_tiny_unet(latent_channels: int, size: TinyUNetSize, frames: int, seed: int = 0) -> UNetSpatioTemporalConditionModel:
    """A randomly initialised SVD UNet at tiny size; input = noisy latent + first-frame latent."""
    torch.manual_seed(seed)
    return UNetSpatioTemporalConditionModel(
        sample_size=None, in_channels=2 * latent_channels, out_channels=latent_channels,
        down_block_types=("DownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal"),
        up_block_types=("CrossAttnUpBlockSpatioTemporal", "UpBlockSpatioTemporal"),
        block_out_channels=size.channels, addition_time_embed_dim=size.time_embed_dim,
        projection_class_embeddings_input_dim=3 * size.time_embed_dim, layers_per_block=1,
        cross_attention_dim=size.cross_dim, num_attention_heads=size.heads, num_frames=frames,
    )


def load_unet(folder: Path) -> UNetSpatioTemporalConditionModel:
    """A pretrained SVD UNet from a local diffusers folder (subfolder `unet`); never a hub name."""
    return UNetSpatioTemporalConditionModel.from_pretrained(str(folder / "unet"), local_files_only=True)


def extend_for_masks(unet: UNetSpatioTemporalConditionModel, extra: int = MASK_CHANNELS) -> UNetSpatioTemporalConditionModel:
    """Append `extra` zero-initialised input channels to conv_in, in place."""
    old: nn.Conv2d = unet.conv_in
    new = nn.Conv2d(old.in_channels + extra, old.out_channels, old.kernel_size, old.stride, old.padding)
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : old.in_channels] = old.weight  # [out, in + extra, k, k]
        new.bias.copy_(old.bias)
    unet.conv_in = new.to(old.weight)
    unet.register_to_config(in_channels=old.in_channels + extra)
    return unet


def select_trainable(unet: UNetSpatioTemporalConditionModel, mode: Literal["first_block_temporal", "all"]) -> list[nn.Parameter]:
    """Freeze all but the trainable set: by default conv_in, the first down block and every temporal layer."""
    if mode == "all":
        unet.requires_grad_(True)
        return list(unet.parameters())
    unet.requires_grad_(False)
    chosen: list[nn.Parameter] = []
    for name, param in unet.named_parameters():
        if name.startswith(("conv_in.", "down_blocks.0.")) or "temporal" in name or "time_mixer" in name:
            param.requires_grad_(True)
            chosen.append(param)
    return chosen


class MaskConditionedUNet(nn.Module):
    """forward(noisy [B, F, C, H, W], first [B, C, H, W], mask [B, F, 2, H, W], t [B] in [0, 1], context [B, 1, D])."""

    def __init__(self, unet: UNetSpatioTemporalConditionModel, fps: float = 8.0, motion_bucket: float = 127.0):
        super().__init__()
        self.unet = unet
        self.fps, self.motion_bucket = fps, motion_bucket

    def forward(
        self, noisy: torch.Tensor, first: torch.Tensor, mask: torch.Tensor | None, t: torch.Tensor, context: torch.Tensor,
    ) -> torch.Tensor:
        b, f = noisy.shape[:2]
        cond = first.unsqueeze(1).expand(-1, f, -1, -1, -1)  # [B, F, C, H, W]
        parts = [noisy, cond]
        if mask is not None:
            parts.append(mask)
        sample = torch.cat(parts, dim=2)  # [B, F, 2C (+2), H, W]
        time_ids = torch.tensor([[self.fps, self.motion_bucket, 0.02]], dtype=noisy.dtype, device=noisy.device).expand(b, -1)
        return self.unet(sample, t * 1000.0, encoder_hidden_states=context, added_time_ids=time_ids, return_dict=False)[0]


def edm_unet_call(model: MaskConditionedUNet, sample: torch.Tensor, first_latent: torch.Tensor, mask: torch.Tensor | None,
                  *, timestep: torch.Tensor, context: torch.Tensor, time_ids: torch.Tensor) -> torch.Tensor:
    """The UNet as SVD calls it: sample [B, F, C, H, W] already scaled by c_in, the (unscaled, noise-augmented)
    first-frame latent [B, C, H, W] repeated over frames, timestep = c_noise, context = CLIP image embedding
    [B, 1, D], time_ids [B, 3] (fps - 1, motion bucket, noise augmentation); returns F (v-prediction)."""
    f = sample.shape[1]
    parts = [sample, first_latent.unsqueeze(1).expand(-1, f, -1, -1, -1)]
    if mask is not None:
        parts.append(mask)
    return model.unet(torch.cat(parts, dim=2), timestep, encoder_hidden_states=context, added_time_ids=time_ids,
                      return_dict=False)[0]


def mask_channels(masks: torch.Tensor, confidence: torch.Tensor | float | None, size: tuple[int, int],
                  max_parts: int) -> torch.Tensor:
    """ReVision's two extra UNet channels [B, F, 2, h, w]: the part labels [B, F, H, W] divided by max_parts and
    resized (nearest) to `size` = (h, w), and the per-frame confidence [B, F] (a float: every frame; None: 1)."""
    labels = functional.interpolate(masks.float(), size=size, mode="nearest") / max_parts  # [B, F, h, w]
    conf = torch.as_tensor(1.0 if confidence is None else confidence, dtype=torch.float32).expand(labels.shape[:2])
    return torch.stack([labels, conf[..., None, None].expand_as(labels)], dim=2)
