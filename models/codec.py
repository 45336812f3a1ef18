"""Latent codecs: how videos become the latents a generator denoises, and back.

`PixelCodec` is the embedded default for tiny CPU configs (the latent is the video in [-1, 1], folded
2 x 2 into channels), so samples can be scored without a trained autoencoder. `VaeCodec` wraps a diffusers autoencoder loaded
from the local `video-base` folder (subfolder `vae`), used for flows and videos alike (VideoJAM encodes
flow RGB with the same autoencoder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F  # noqa: N812  (the torch convention)
from torch import nn


class Codec(Protocol):
    latent_channels: int

    def encode(self, video: torch.Tensor) -> torch.Tensor: ...  # [B, 3, F, H, W] in [-1, 1] -> [B, C, F', H', W']

    def decode(self, latents: torch.Tensor) -> torch.Tensor: ...  # [B, C, F', H', W'] -> [B, 3, F, H, W]


class PixelCodec(nn.Module):
    """Lossless space-to-depth codec: latents are pixels in [-1, 1] folded `factor` x `factor` into channels."""

    def __init__(self, factor: int = 2):
        super().__init__()
        self.factor = factor
        self.latent_channels = 3 * factor * factor

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        b, _, f = video.shape[:3]
        frames = video.permute(0, 2, 1, 3, 4).flatten(0, 1)  # [B*F, 3, H, W]
        z = F.pixel_unshuffle(frames, self.factor)  # [B*F, 3 r^2, H/r, W/r]
        return z.unflatten(0, (b, f)).permute(0, 2, 1, 3, 4)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        b, _, f = latents.shape[:3]
        frames = F.pixel_shuffle(latents.permute(0, 2, 1, 3, 4).flatten(0, 1), self.factor)
        return frames.unflatten(0, (b, f)).permute(0, 2, 1, 3, 4)


class VaeCodec(nn.Module):
    """A diffusers video autoencoder (e.g. AutoencoderKLWan) from a local folder; frozen. Where the VAE's config
    carries `latents_mean` / `latents_std` (Wan), latents are normalised per channel as Wan's pipeline expects."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        from physflow.models.wan_base import WanLatentNorm

        self.vae = vae.requires_grad_(False).eval()
        self.latent_channels = int(vae.config.z_dim if hasattr(vae.config, "z_dim") else vae.config.latent_channels)
        self.temporal_factor = int(getattr(vae.config, "scale_factor_temporal", 1))  # Wan: 1 + 4 (n - 1) frames
        mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
        self.norm = WanLatentNorm(mean, std) if mean is not None and std is not None else None

    @classmethod
    def from_folder(cls, folder: Path) -> VaeCodec:
        from diffusers import AutoencoderKLWan

        return cls(AutoencoderKLWan.from_pretrained(str(folder / "vae"), local_files_only=True))

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        z = self.vae.encode(video).latent_dist.mode()
        return self.norm.normalise(z) if self.norm is not None else z

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        z = self.norm.denormalise(latents) if self.norm is not None else latents
        return self.vae.decode(z).sample


class FrameVaeCodec(nn.Module):
    """SVD's per-frame autoencoder (AutoencoderKLTemporalDecoder) from a local folder; frozen, latents scaled."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae.requires_grad_(False).eval()
        self.latent_channels = int(vae.config.latent_channels)
        self.scale = float(vae.config.scaling_factor)

    @classmethod
    def from_folder(cls, folder: Path) -> FrameVaeCodec:
        from diffusers import AutoencoderKLTemporalDecoder

        return cls(AutoencoderKLTemporalDecoder.from_pretrained(str(folder / "vae"), local_files_only=True))

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        b, _, f = video.shape[:3]
        frames = video.permute(0, 2, 1, 3, 4).flatten(0, 1)  # [B*F, 3, H, W]
        z = self.vae.encode(frames).latent_dist.mode() * self.scale
        return z.unflatten(0, (b, f)).permute(0, 2, 1, 3, 4)  # [B, C, F, h, w]

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        b, _, f = latents.shape[:3]
        z = latents.permute(0, 2, 1, 3, 4).flatten(0, 1) / self.scale
        frames = self.vae.decode(z, num_frames=f).sample  # [B*F, 3, H, W]
        return frames.unflatten(0, (b, f)).permute(0, 2, 1, 3, 4)
