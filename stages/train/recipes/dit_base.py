"""What the DiT recipes (videojam, wisa, diffphy) share: codec + Wan DiT + text embeddings, the flow-matching
objective with the base's time shift, and sampling with (Inner-)Guidance on the base scheduler's sigmas.

Tiny base: pixel codec, hash text embedder, uniform sigmas. A Wan pipeline folder: its VAE with Wan's latent
normalisation, its UMT5 encoder (frozen, outside the checkpoint), its scheduler's shift for training and its
sigmas for sampling, as WanPipeline samples (tests/models/test_wan_parity.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from physflow.models.inner_guidance import InnerGuidance, sample_inner_guidance
from physflow.models.text_embed import HashTextEmbedder
from physflow.models.text_store import EmbeddingStore
from physflow.models.video_dit import JointDiT, extend_for_flow
from physflow.models.wan_base import scheduler_shift, scheduler_sigmas, wan_prompt_encoder
from physflow.stages.train.data.snapshot import DataConfig
from physflow.stages.train.recipes.base import Batch, Recipe, build_dit, noise_like


class DiTRecipe(Recipe):
    """A JointDiT with `flow_channels` (0: plain DiT) plus its codec and text embedder."""

    guidance = InnerGuidance(w1=3.0, w2=0.0)  # text-only guidance unless the recipe predicts flow

    def __init__(self, config: Any, data: DataConfig, folder: Path | None, seed: int, *, with_flow: bool = False,
                 text_store: EmbeddingStore | None = None):
        super().__init__()
        self.config, self.data = config, data
        self.codec, dit = build_dit(config.dit, folder, seed)
        c = self.codec.latent_channels
        if with_flow:
            extend_for_flow(dit, c)
        self.model = JointDiT(dit, appearance_channels=c, flow_channels=c if with_flow else 0)
        self.folder = folder
        # A Wan base's UMT5 encoder stays out of the module (and checkpoints); with a store, it loads only for
        # captions not embedded yet.
        # A store's encoder embeds the captions on the accelerator once (then is freed when offloaded); without a
        # store (generation from a checkpoint) it stays where it loads.
        device = "cuda" if torch.cuda.is_available() and text_store is not None else None
        self.text: Any = (HashTextEmbedder(dit.config.text_dim) if folder is None
                          else wan_prompt_encoder(folder, text_store, device=device))
        self.shift = 1.0 if folder is None else scheduler_shift(folder)

    def encode_text(self, prompts: list[str]) -> torch.Tensor:
        """[B, T, D] prompt embeddings on the model's device."""
        if isinstance(self.text, HashTextEmbedder):
            return self.text(prompts)
        return self.text(prompts, device=next(self.model.parameters()).device)

    def noise(self, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return noise_like(x0, self.shift)

    def sigmas(self, steps: int) -> torch.Tensor | None:
        return None if self.folder is None else scheduler_sigmas(self.folder, steps)

    def extra_tokens(self, batch: Batch) -> torch.Tensor | None:
        """Context tokens appended to the text (WISA's physics tokens); none by default."""
        return None

    @torch.no_grad()
    def sample(self, batch: Batch, steps: int, generator: torch.Generator) -> torch.Tensor:
        prompts = list(batch["prompt"])
        shape = tuple(self.codec.encode(batch["video"]).shape[1:])
        x, _ = sample_inner_guidance(self.model, self.encode_text(prompts), self.encode_text([""] * len(prompts)),
                                     shape, steps=steps, generator=generator, guidance=self.guidance,
                                     extra_tokens=self.extra_tokens(batch), sigmas=self.sigmas(steps))
        return self.codec.decode(x).clamp(-1, 1)
