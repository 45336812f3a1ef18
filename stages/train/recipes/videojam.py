"""VideoJAM: a Wan DiT over [appearance latent, flow latent] trained with flow matching on both.

The DiT's patch embedding gains zero-initialised flow input channels and its output projection zero-initialised
flow rows (models/video_dit.extend_for_flow). Text is dropped on `text_dropout` of samples and the flow input on
`flow_dropout` (the flow loss then counts only where flow was given); sampling uses Inner-Guidance.
"""

from __future__ import annotations

from pathlib import Path

import torch

from physflow.models.inner_guidance import InnerGuidance
from physflow.models.text_store import EmbeddingStore
from physflow.stages.train.data.snapshot import DataConfig
from physflow.stages.train.recipes.base import Batch, drop_prompts, fm_loss
from physflow.stages.train.recipes.config import VideoJAMConfig
from physflow.stages.train.recipes.dit_base import DiTRecipe


class VideoJAMRecipe(DiTRecipe):
    name = "videojam"

    def __init__(self, config: VideoJAMConfig, data: DataConfig, folder: Path | None, seed: int,
                 text_store: EmbeddingStore | None = None):
        super().__init__(config, data, folder, seed, with_flow=config.use_flow, text_store=text_store)
        self.guidance = InnerGuidance(config.w1, config.w2)

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        x0 = self.codec.encode(batch["video"])  # [B, C, F, H, W]
        text = self.encode_text(drop_prompts(list(batch["prompt"]), self.config.text_dropout))  # [B, T, D]
        if not self.model.flow_channels:
            x_t, t, target = self.noise(x0)
            u_x, _ = self.model(x_t, None, t, text)
            loss = fm_loss(u_x, target)
            return loss, {"loss_x": float(loss.detach())}
        d0 = self.codec.encode(batch["flow"])  # [B, C_f, F, H, W]
        joint_t, t, joint_target = self.noise(torch.cat([x0, d0], dim=1))
        c = x0.shape[1]
        keep = (torch.rand(x0.shape[0], device=x0.device) >= self.config.flow_dropout) & batch["has_flow"].to(x0.device)
        keep5 = keep.view(-1, 1, 1, 1, 1).to(x0.dtype)
        u_x, u_d = self.model(joint_t[:, :c], joint_t[:, c:] * keep5, t, text)
        assert u_d is not None
        loss_x = fm_loss(u_x, joint_target[:, :c])
        per_sample = ((u_d.float() - joint_target[:, c:].float()) ** 2).mean(dim=(1, 2, 3, 4))  # [B]
        loss_d = (per_sample * keep.float()).sum() / keep.float().sum().clamp(min=1.0)
        loss = loss_x + self.config.flow_loss_weight * loss_d
        return loss, {"loss_x": float(loss_x.detach()), "loss_flow": float(loss_d.detach())}
