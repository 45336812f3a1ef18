"""A Stable Video Diffusion pipeline folder as ReVision's base, in SVD's own parametrisation (EDM).

A base is a diffusers `StableVideoDiffusionPipeline` folder (CLIP image encoder + feature extractor, UNet,
temporal VAE, EulerDiscreteScheduler). SVD is an EDM model with sigma_data = 1 and v-prediction:
    x_sigma = x_0 + sigma * noise,   c_in = 1 / sqrt(sigma^2 + 1),   c_noise = 0.25 ln sigma,
    x_0 = c_skip x_sigma + c_out F,  c_skip = 1 / (sigma^2 + 1),     c_out = -sigma / sqrt(sigma^2 + 1).
The UNet sees [c_in x_sigma, first-frame latent] (the first frame noise-augmented, its latent not scaled),
cross-attends to the CLIP image embedding of the first frame, and gets added time ids (fps - 1, motion bucket,
noise augmentation strength). Training draws ln sigma ~ N(0.7, 1.6^2) and regresses F on
(x_0 - c_skip x_sigma) / c_out, which is the EDM loss weighted by 1 / c_out^2.

`build_tiny_svd_pipeline` saves the CPU default: the same classes at tiny size with random weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

P_MEAN, P_STD = 0.7, 1.6  # SVD fine-tuning's log-normal sigma distribution


@dataclass(frozen=True)
class SvdConditioning:
    """SVD's defaults for the added time ids (as StableVideoDiffusionPipeline.__call__ uses them)."""

    fps: int = 7  # the pipeline conditions on fps - 1
    motion_bucket_id: int = 127
    noise_aug_strength: float = 0.02

    def time_ids(self, batch: int, dtype: torch.dtype, device: torch.device | None = None) -> torch.Tensor:
        ids = torch.tensor([[self.fps - 1, self.motion_bucket_id, self.noise_aug_strength]], dtype=dtype)
        return ids.expand(batch, -1).to(device)


def build_tiny_svd_pipeline(folder: Path, seed: int = 0, frames: int = 4) -> Path:
    """Save a tiny random StableVideoDiffusionPipeline with SVD's EDM scheduler settings."""
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=16, patch_size=4,
        intermediate_size=37))
    feature_extractor = CLIPImageProcessor(crop_size=16, size=16)
    unet = UNetSpatioTemporalConditionModel(
        sample_size=None, in_channels=8, out_channels=4, block_out_channels=(32, 32),
        down_block_types=("DownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal"),
        up_block_types=("CrossAttnUpBlockSpatioTemporal", "UpBlockSpatioTemporal"), addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=24, layers_per_block=1, cross_attention_dim=32,
        num_attention_heads=(2, 4), num_frames=frames)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=(32, 32), latent_channels=4, layers_per_block=1,
                                       down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", prediction_type="v_prediction",
        interpolation_type="linear", use_karras_sigmas=True, sigma_min=0.002, sigma_max=700.0,
        timestep_spacing="leading", timestep_type="continuous", steps_offset=1)
    pipe = StableVideoDiffusionPipeline(vae=vae.eval(), image_encoder=image_encoder.eval(), unet=unet.eval(),
                                        scheduler=scheduler, feature_extractor=feature_extractor)
    pipe.save_pretrained(str(folder))
    return folder


def edm_scalings(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(c_skip, c_out, c_in, c_noise) for v-prediction with sigma_data = 1."""
    s2 = sigma**2 + 1
    return 1 / s2, -sigma / s2.sqrt(), 1 / s2.sqrt(), 0.25 * sigma.log()


def sample_sigmas(batch: int, device: torch.device | None = None) -> torch.Tensor:
    return (P_MEAN + P_STD * torch.randn(batch, device=device)).exp()


class ClipImageEmbedder:
    """SVD's CLIP image encoder + its processor's normalisation: first frames [B, 3, H, W] in [-1, 1] ->
    [B, 1, D]. Frozen and kept outside the trained module's state (no checkpoint holds it)."""

    def __init__(self, encoder: nn.Module, mean: list[float], std: list[float]):
        self.encoder = encoder.requires_grad_(False).eval()
        self.size = int(encoder.config.image_size)
        self.mean, self.std = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
        self.dim = int(encoder.config.projection_dim)

    @classmethod
    def from_folder(cls, folder: Path) -> ClipImageEmbedder:
        from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

        encoder = CLIPVisionModelWithProjection.from_pretrained(str(folder / "image_encoder"), local_files_only=True)
        processor = CLIPImageProcessor.from_pretrained(str(folder / "feature_extractor"), local_files_only=True)
        return cls(encoder, list(processor.image_mean), list(processor.image_std))

    @torch.no_grad()
    def __call__(self, first: torch.Tensor) -> torch.Tensor:
        image = (first.float() + 1) / 2  # [B, 3, H, W] in [0, 1]
        if image.shape[-2:] != (self.size, self.size):  # a real SVD encoder takes 224 x 224
            image = functional.interpolate(image, size=(self.size, self.size), mode="bicubic", antialias=True,
                                           align_corners=False).clamp(0, 1)
        device = next(self.encoder.parameters()).device
        pixels = ((image - self.mean.to(image)) / self.std.to(image)).to(device)
        return self.encoder(pixels).image_embeds.unsqueeze(1).to(first)  # [B, 1, D]


def load_edm_scheduler(folder: Path) -> object:
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler.from_pretrained(str(folder / "scheduler"), local_files_only=True)


def guidance_per_frame(frames: int, low: float = 1.0, high: float = 3.0) -> torch.Tensor:
    """SVD's classifier-free guidance, rising linearly from the first frame to the last: [1, F, 1, 1, 1]."""
    return torch.linspace(low, high, frames).view(1, frames, 1, 1, 1)


@torch.no_grad()
def edm_sample(model: nn.Module, scheduler: object, first_latent: torch.Tensor, context: torch.Tensor,
               mask: torch.Tensor | None, *, frames: int, steps: int, generator: torch.Generator,
               time_ids: torch.Tensor) -> torch.Tensor:
    """SVD's sampler (as StableVideoDiffusionPipeline.__call__, tests/models/test_svd_parity.py): latents drawn after
    the augmentation noise, times init_noise_sigma; Euler steps of the EDM scheduler on its own sigmas;
    classifier-free guidance against zeroed image conditions, rising from 1 at the first frame to 3 at the last.
    `model` is a MaskConditionedUNet, `mask` [B, F, 2, h, w] its extra channels (None: a stock UNet).
    Returns latents [B, F, C, h, w]."""
    from physflow.models.revision_unet import edm_unet_call

    scheduler.set_timesteps(steps, device=first_latent.device)
    b, c, h, w = first_latent.shape
    x = torch.randn((b, frames, c, h, w), generator=generator).to(first_latent) * scheduler.init_noise_sigma
    scale = guidance_per_frame(frames).to(x)
    no_latent, no_context = torch.zeros_like(first_latent), torch.zeros_like(context)
    for t in scheduler.timesteps:
        x_in = scheduler.scale_model_input(x, t)
        f_c = edm_unet_call(model, x_in, first_latent, mask, timestep=t, context=context, time_ids=time_ids)
        f_u = edm_unet_call(model, x_in, no_latent, mask, timestep=t, context=no_context, time_ids=time_ids)
        x = scheduler.step(f_u + scale * (f_c - f_u), t, x).prev_sample
    return x
