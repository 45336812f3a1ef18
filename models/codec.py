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

    def set_memory(self, slicing: bool, tiling: bool) -> None: ...  # VAE slicing / tiling (see VaeCodec)


class PixelCodec(nn.Module):
    """Lossless space-to-depth codec: latents are pixels in [-1, 1] folded `factor` x `factor` into channels."""

    def __init__(self, factor: int = 2):
        super().__init__()
        self.factor = factor
        self.latent_channels = 3 * factor * factor

    def set_memory(self, slicing: bool, tiling: bool) -> None:
        """Nothing to save: the fold holds no activations (tiny configs accept the training config's defaults)."""

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

    def set_memory(self, slicing: bool, tiling: bool) -> None:
        """The diffusers VAE's own options: slicing encodes/decodes one video of the batch at a time (same output
        up to float rounding); tiling splits each frame into overlapping spatial tiles blended at the seams
        (diffusers' default tiles of 256 px, stride 192: frames at most 256 px are not split)."""
        _vae_option(self.vae, "slicing", slicing)
        _vae_option(self.vae, "tiling", tiling)

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
        self.slicing = False

    def set_memory(self, slicing: bool, tiling: bool) -> None:
        """AutoencoderKLTemporalDecoder has neither option in diffusers: slicing is done here (one video of the
        batch at a time, as diffusers slices); tiling cannot be, and is refused naming the field."""
        if tiling:
            raise ValueError(f"vae_tiling: {type(self.vae).__name__} (the SVD base's VAE) has no tiled "
                             "encode/decode; set vae_tiling = false")
        self.slicing = slicing

    @classmethod
    def from_folder(cls, folder: Path) -> FrameVaeCodec:
        from diffusers import AutoencoderKLTemporalDecoder

        return cls(AutoencoderKLTemporalDecoder.from_pretrained(str(folder / "vae"), local_files_only=True))

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Unscaled latent modes of frames [N, 3, H, W] -> [N, C, h, w] (one frame at a time with slicing)."""
        parts = frames.split(1) if self.slicing else (frames,)
        return torch.cat([self.vae.encode(p).latent_dist.mode() for p in parts])

    def encode(self, video: torch.Tensor) -> torch.Tensor:
        b, _, f = video.shape[:3]
        if self.slicing and b > 1:
            return torch.cat([self.encode(v) for v in video.split(1)])
        frames = video.permute(0, 2, 1, 3, 4).flatten(0, 1)  # [B*F, 3, H, W]
        z = self.vae.encode(frames).latent_dist.mode() * self.scale
        return z.unflatten(0, (b, f)).permute(0, 2, 1, 3, 4)  # [B, C, F, h, w]

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        b, _, f = latents.shape[:3]
        if self.slicing and b > 1:  # the temporal decoder mixes frames of one video only: exact per video
            return torch.cat([self.decode(z) for z in latents.split(1)])
        z = latents.permute(0, 2, 1, 3, 4).flatten(0, 1) / self.scale
        frames = self.vae.decode(z, num_frames=f).sample  # [B*F, 3, H, W]
        return frames.unflatten(0, (b, f)).permute(0, 2, 1, 3, 4)


def _vae_option(vae: nn.Module, option: str, on: bool) -> None:
    """Turn a diffusers VAE's `enable_<option>` on or off; a VAE class without it fails naming the field."""
    if not on:
        if hasattr(vae, f"use_{option}"):
            getattr(vae, f"disable_{option}")()
        return
    if not hasattr(vae, f"use_{option}"):
        raise ValueError(f"vae_{option}: {type(vae).__name__} has no {option}; set vae_{option} = false")
    getattr(vae, f"enable_{option}")()
