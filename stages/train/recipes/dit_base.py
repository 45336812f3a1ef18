"""What the DiT recipes (videojam, wisa, diffphy) share: codec + Wan DiT + hash text embedder, and sampling
with (Inner-)Guidance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from physflow.models.inner_guidance import InnerGuidance, sample_inner_guidance
from physflow.models.text_embed import HashTextEmbedder
from physflow.models.video_dit import JointDiT, extend_for_flow
from physflow.stages.train.data.snapshot import DataConfig
from physflow.stages.train.recipes.base import Batch, Recipe, build_dit


class DiTRecipe(Recipe):
    """A JointDiT with `flow_channels` (0: plain DiT) plus its codec and text embedder."""

    guidance = InnerGuidance(w1=3.0, w2=0.0)  # text-only guidance unless the recipe predicts flow

    def __init__(self, config: Any, data: DataConfig, folder: Path | None, seed: int, *, with_flow: bool = False):
        super().__init__()
        self.config, self.data = config, data
        self.codec, dit = build_dit(config.dit, folder, seed)
        c = self.codec.latent_channels
        if with_flow:
            extend_for_flow(dit, c)
        self.model = JointDiT(dit, appearance_channels=c, flow_channels=c if with_flow else 0)
        self.text = HashTextEmbedder(dit.config.text_dim)

    def extra_tokens(self, batch: Batch) -> torch.Tensor | None:
        """Context tokens appended to the text (WISA's physics tokens); none by default."""
        return None

    @torch.no_grad()
    def sample(self, batch: Batch, steps: int, generator: torch.Generator) -> torch.Tensor:
        prompts = list(batch["prompt"])
        shape = tuple(self.codec.encode(batch["video"]).shape[1:])
        x, _ = sample_inner_guidance(self.model, self.text(prompts), self.text([""] * len(prompts)), shape,
                                     steps=steps, generator=generator, guidance=self.guidance,
                                     extra_tokens=self.extra_tokens(batch))
        return self.codec.decode(x).clamp(-1, 1)
