"""Generators over pretrained diffusers bases: a ReVision checkpoint trained from a Stable Video Diffusion folder,
and the pipeline folders `physflow export` writes (given to generate as its checkpoint).

`SvdRevisionGenerator` samples SVD's way, with the EDM sampler the ReVision recipe samples with
(models/svd_base.edm_sample, parity-tested against StableVideoDiffusionPipeline.__call__): the first frame's CLIP
image embedding as context, its noise-augmented latent as the image condition, Euler steps on the scheduler's
sigmas, and SVD's own guidance rising from 1 at the first frame to 3 at the last (SVD has no text input, so the
prompt and the text guidance weight do not enter). The part masks and their confidence enter through the UNet's
two extra input channels when it has them (ReVision), in phase 1 and 3 alike.

A Wan folder (WanPipeline, VideoJAMWanPipeline; a LoRA file beside it is fused) becomes a JointGenerator on the
folder's scheduler sigmas and UMT5 prompt embeddings, with flow channels when the transformer has them.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from physflow.models.codec import FrameVaeCodec, VaeCodec
from physflow.models.revision_unet import MASK_CHANNELS, MaskConditionedUNet
from physflow.models.svd_base import (
    ClipImageEmbedder,
    SvdConditioning,
    edm_sample,
    load_edm_scheduler,
)
from physflow.models.video_dit import JointDiT
from physflow.models.wan_base import UMT5Prompts, scheduler_sigmas
from physflow.stages.common.annotation import LABEL_SCALE
from physflow.stages.generate.config import GuidanceConfig
from physflow.stages.generate.generator import Condition, JointGenerator, mask_input
from physflow.stages.train.recipes.base import pipeline_class

SVD_PIPELINES = ("StableVideoDiffusionPipeline", "ReVisionSVDPipeline")
WAN_PIPELINES = ("WanPipeline", "VideoJAMWanPipeline")
LORA_FILE = "pytorch_lora_weights.safetensors"  # what WanPipeline.save_lora_weights writes


class SvdRevisionGenerator(nn.Module):
    """SVD's temporal VAE + (mask-conditioned) UNet + CLIP image encoder + EDM scheduler."""

    joint = False

    def __init__(self, codec: FrameVaeCodec, model: MaskConditionedUNet, image: ClipImageEmbedder, scheduler: Any,
                 max_parts: int = LABEL_SCALE):
        super().__init__()
        self.codec, self.model, self.image, self.scheduler = codec, model, image, scheduler
        self.image_encoder = image.encoder  # a submodule, so .to(device) moves the encoder the embedder calls
        self.max_parts, self.svd = max_parts, SvdConditioning()
        self.with_masks = int(model.unet.config.in_channels) == 2 * codec.latent_channels + MASK_CHANNELS

    @classmethod
    def from_recipe(cls, recipe: Any) -> SvdRevisionGenerator:
        """The modules of a ReVision recipe trained from an SVD folder (stages/train/recipes/revision.py)."""
        return cls(recipe.codec, recipe.model, recipe.image, load_edm_scheduler(recipe.folder),
                   recipe.data.max_parts).eval()

    @classmethod
    def from_folder(cls, folder: Path, name: str) -> SvdRevisionGenerator:
        """An SVD pipeline folder of class `name`: the stock one or an exported ReVisionSVDPipeline (mask channels,
        max_parts)."""
        from diffusers import StableVideoDiffusionPipeline

        from physflow.models.physflow_pipelines import ReVisionSVDPipeline

        pipeline = ReVisionSVDPipeline if name == ReVisionSVDPipeline.__name__ else StableVideoDiffusionPipeline
        pipe = pipeline.from_pretrained(str(folder), local_files_only=True)
        processor = pipe.feature_extractor
        image = ClipImageEmbedder(pipe.image_encoder, list(processor.image_mean), list(processor.image_std))
        max_parts = int(pipe.config.get("max_parts", LABEL_SCALE))
        return cls(FrameVaeCodec(pipe.vae), MaskConditionedUNet(pipe.unet), image, pipe.scheduler, max_parts).eval()

    @torch.no_grad()
    def sample(self, first: torch.Tensor, prompts: list[str], cond: Condition, *, frames: int, steps: int,
               guidance: GuidanceConfig, generator: torch.Generator) -> torch.Tensor:
        """first [B, 3, H, W] in [-1, 1] -> video [B, 3, F, H, W] in [-1, 1] (draws as the recipe's sampler)."""
        b = first.shape[0]
        context = self.image(first)
        noise = torch.randn(first.shape, generator=generator).to(first)
        first_latent = self.codec.encode_frames(first + self.svd.noise_aug_strength * noise)  # SVD's image condition
        size = tuple(first_latent.shape[-2:])
        mask = mask_input(cond, b, frames, size, self.max_parts).to(first_latent) if self.with_masks else None
        x = edm_sample(self.model, self.scheduler, first_latent, context, mask, frames=frames, steps=steps,
                       generator=generator, time_ids=self.svd.time_ids(b, first_latent.dtype, first_latent.device))
        return self.codec.decode(x.permute(0, 2, 1, 3, 4)).clamp(-1, 1)


def _wan_generator(folder: Path) -> JointGenerator:
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(str(folder), local_files_only=True)
    if (folder / LORA_FILE).is_file():  # a LoRA export (DiffPhy): sample the fused weights
        pipe.load_lora_weights(str(folder))
        pipe.fuse_lora()
        pipe.unload_lora_weights()
    codec = VaeCodec(pipe.vae)
    c = codec.latent_channels
    model = JointDiT(pipe.transformer.eval(), appearance_channels=c,
                     flow_channels=int(pipe.transformer.config.in_channels) - c)
    text = UMT5Prompts(pipe.tokenizer, pipe.text_encoder)
    return JointGenerator(codec, model, text, partial(scheduler_sigmas, folder)).eval()


def generator_from_folder(folder: Path) -> nn.Module:
    """The generator of a diffusers pipeline folder, chosen by the class model_index.json names."""
    name = pipeline_class(folder)
    if name in SVD_PIPELINES:
        return SvdRevisionGenerator.from_folder(folder, name)
    if name in WAN_PIPELINES:
        return _wan_generator(folder)
    raise ValueError(f"pipeline folder {folder} holds a {name}; generate samples {', '.join(SVD_PIPELINES + WAN_PIPELINES)}")
