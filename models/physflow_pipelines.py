"""Diffusers pipeline classes for physflow models with inputs the stock pipelines lack; each subclasses the stock
pipeline, keeps its folder layout and components, and with the extension at zero gives the stock output.

- `ReVisionSVDPipeline(StableVideoDiffusionPipeline)`: ReVision's SVD UNet whose conv_in has two extra input
  channels (part mask = label / max_parts, confidence). `__call__` takes `masks` [B, F, H, W] (part labels,
  0 = none) and `mask_confidence` [B, F]; it runs the stock `__call__` with a forward pre-hook on the UNet that
  appends those channels (zeros when no masks are given) to every UNet input, the cond and uncond halves alike.
- `VideoJAMWanPipeline(WanPipeline)`: VideoJAM's Wan transformer over [appearance latent, flow latent] (extra
  input channels and output rows). `__call__` samples both with Inner-Guidance on the scheduler's sigmas and
  returns the video and the generated motion as flow RGB (`VideoJAMPipelineOutput.flow`).

An exported folder (physflow export) is the stock layout; model_index.json's `_class_name` is the subclass's name
(as save_pretrained writes it) and the folder holds a one-line module importing the class
from physflow (`module_file`: one per class, as diffusers caches such modules by file name). With physflow
installed it loads offline either way:
    ReVisionSVDPipeline.from_pretrained(folder)
    DiffusionPipeline.from_pretrained(folder, custom_pipeline=f"{folder}/revision_svd_pipeline.py",
                                      trust_remote_code=True)
(A `_class_name` of [module, class] would make diffusers load the module file even for the subclass's own
from_pretrained, which then needs trust_remote_code; a plain name keeps the direct path free of it.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import StableVideoDiffusionPipeline, WanPipeline
from diffusers.utils import BaseOutput

from physflow.models.inner_guidance import InnerGuidance, sample_inner_guidance
from physflow.models.revision_unet import mask_channels
from physflow.models.video_dit import JointDiT

DEFAULT_MAX_PARTS = 255  # physflow's label scale (stages/common/annotation.LABEL_SCALE)


class ReVisionSVDPipeline(StableVideoDiffusionPipeline):
    """StableVideoDiffusionPipeline for a UNet with ReVision's part-mask channels."""

    module_file = "revision_svd_pipeline.py"  # what an exported folder holds for DiffusionPipeline(custom_pipeline=)

    def __init__(self, vae: Any, image_encoder: Any, unet: Any, scheduler: Any, feature_extractor: Any, *,
                 max_parts: int = DEFAULT_MAX_PARTS):
        super().__init__(vae=vae, image_encoder=image_encoder, unet=unet, scheduler=scheduler,
                         feature_extractor=feature_extractor)
        self.register_to_config(max_parts=max_parts)

    def prepare_latents(self, batch_size: int, num_frames: int, num_channels_latents: int, *args: Any,
                        **kwargs: Any) -> torch.Tensor:
        """The stock latents: the stock __call__ derives their channels from unet.in_channels, which here counts
        the mask channels too."""
        return super().prepare_latents(batch_size, num_frames, 2 * int(self.vae.config.latent_channels), *args,
                                       **kwargs)

    @torch.no_grad()
    def __call__(self, image: Any, *args: Any, masks: torch.Tensor | None = None,
                 mask_confidence: torch.Tensor | float | None = None, **kwargs: Any) -> Any:
        """The stock __call__ (same arguments) plus `masks` [B, F, H, W] part labels for each of the F frames and
        `mask_confidence` [B, F] (1: exact masks, 0.5: a sketch, 0: none; a float: every frame)."""
        per_image = int(kwargs.get("num_videos_per_prompt", 1))
        cache: list[torch.Tensor] = []

        def append_masks(module: Any, args: tuple, call: dict) -> tuple[tuple, dict]:
            sample = args[0]  # [N, F, 2C, h, w]; N = 2 x B x per_image under guidance (uncond, cond), else B x per_image
            if not cache:
                n, f, _, h, w = sample.shape
                extra = (torch.zeros(n, f, 2, h, w) if masks is None else
                         mask_channels(masks, mask_confidence, (h, w), self.config.max_parts)
                         .repeat_interleave(per_image, dim=0))
                cache.append(extra.repeat(n // extra.shape[0], 1, 1, 1, 1).to(sample))
            return (torch.cat([sample, cache[0]], dim=2), *args[1:]), call

        handle = self.unet.register_forward_pre_hook(append_masks, with_kwargs=True)
        try:
            return super().__call__(image, *args, **kwargs)
        finally:
            handle.remove()


@dataclass
class VideoJAMPipelineOutput(BaseOutput):
    frames: Any  # the video, as WanPipeline returns it for `output_type`
    flow: Any  # the generated motion as flow RGB video (physflow's flow encoding), same type and shape


class VideoJAMWanPipeline(WanPipeline):
    """WanPipeline for VideoJAM's joint appearance-motion transformer, sampled with Inner-Guidance:
    u = (1 + w1 + w2) u([x, d], y) - w1 u([x, d], none) - w2 u([x, none], y), with w1 = guidance_scale - 1 (the
    stock pipeline's text guidance) and w2 = motion_guidance_scale."""

    module_file = "videojam_wan_pipeline.py"

    @torch.no_grad()
    def __call__(self, prompt: str | list[str], negative_prompt: str | list[str] | None = None, *, height: int = 480,
                 width: int = 832, num_frames: int = 81, num_inference_steps: int = 50, guidance_scale: float = 5.0,
                 motion_guidance_scale: float = 3.0, generator: torch.Generator | None = None,
                 max_sequence_length: int = 512, output_type: str = "np",
                 return_dict: bool = True) -> VideoJAMPipelineOutput | tuple:
        device = self._execution_device
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        text, null = self.encode_prompt(prompts, negative_prompt=negative_prompt, do_classifier_free_guidance=True,
                                        max_sequence_length=max_sequence_length, device=device)
        c = int(self.vae.config.z_dim)
        model = JointDiT(self.transformer, appearance_channels=c,
                         flow_channels=int(self.transformer.config.in_channels) - c)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        frames = (num_frames - 1) // self.vae_scale_factor_temporal + 1
        shape = (c, frames, height // self.vae_scale_factor_spatial, width // self.vae_scale_factor_spatial)
        dtype = self.transformer.dtype
        x, d = sample_inner_guidance(model, text.to(dtype), null.to(dtype), shape, steps=num_inference_steps,
                                     guidance=InnerGuidance(guidance_scale - 1, motion_guidance_scale),
                                     generator=generator, sigmas=self.scheduler.sigmas.float().cpu())
        video, flow = self._decode(x, output_type), None if d is None else self._decode(d, output_type)
        self.maybe_free_model_hooks()
        return VideoJAMPipelineOutput(frames=video, flow=flow) if return_dict else (video, flow)

    def _decode(self, latents: torch.Tensor, output_type: str) -> Any:
        """As WanPipeline decodes: Wan's per-channel latent statistics undone, the VAE, the video processor."""
        if output_type == "latent":
            return latents
        vae = self.vae
        latents = latents.to(vae.device, vae.dtype)
        mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1).to(latents)
        std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1).to(latents)
        video = vae.decode(latents * std + mean, return_dict=False)[0]
        return self.video_processor.postprocess_video(video, output_type=output_type)


def write_module_file(folder: Path, pipeline: type) -> Path:
    """Put beside a saved folder the module diffusers' `custom_pipeline` loads: one import from physflow."""
    path = folder / pipeline.module_file
    path.write_text(f'"""The pipeline class of this folder (physflow)."""\n\nfrom {pipeline.__module__} import '
                    f'{pipeline.__name__}\n\n__all__ = ["{pipeline.__name__}"]\n')
    return path
