"""DiffPhy judges: score decoded videos for phenomena matched, physical commonsense (1-5) and semantic
adherence (1-5), behind one `PhysicsJudge` protocol.

The embedded judge is a small differentiable 3D-conv classifier trained on the synthetic world's labels
(phenomena from physics_context; commonsense: real clips vs. frame-shuffled ones; semantics: matched vs.
mismatched prompts), so its scores can be back-propagated into a generator's prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F  # noqa: N812  (the torch convention)
from torch import nn

from physflow.models.text_embed import HashTextEmbedder
from physflow.models.wisa import PHENOMENA


@dataclass
class JudgeScores:
    """Per-sample judge outputs: phenomenon logits [B, 17], commonsense [B] and semantic [B] scores in [1, 5]."""

    phenomena_logits: torch.Tensor
    commonsense: torch.Tensor
    semantic: torch.Tensor


class PhysicsJudge(Protocol):
    differentiable: bool

    def score(self, video: torch.Tensor, prompts: list[str]) -> JudgeScores: ...  # video [B, 3, F, H, W] in [-1, 1]


def judge_losses(scores: JudgeScores, expected: torch.Tensor) -> dict[str, torch.Tensor]:
    """DiffPhy's judge terms: phenomena matched (BCE to the expected multi-hot) and (5 - score) / 4 for the others."""
    return {
        "phen": F.binary_cross_entropy_with_logits(scores.phenomena_logits, expected),
        "com": ((5.0 - scores.commonsense) / 4.0).mean(),
        "sem": ((5.0 - scores.semantic) / 4.0).mean(),
    }


class EmbeddedPhysicsJudge(nn.Module):
    """A small video classifier: Conv3d encoder -> phenomena logits, commonsense and text-video agreement."""

    differentiable = True

    def __init__(self, width: int = 8, text_dim: int = 32):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.AvgPool3d((1, 2, 2)),  # judge at half resolution: physics is in the motion, not the texture
            nn.Conv3d(3, width, (3, 3, 3), padding=1), nn.SiLU(),
            nn.Conv3d(width, 2 * width, (3, 4, 4), stride=(1, 2, 2), padding=(1, 1, 1)), nn.SiLU(),
            nn.Conv3d(2 * width, 2 * width, (3, 4, 4), stride=(2, 2, 2), padding=(1, 1, 1)), nn.SiLU(),
            nn.AdaptiveAvgPool3d(1), nn.Flatten(),
        )
        self.phenomena = nn.Linear(2 * width, len(PHENOMENA))
        self.commonsense = nn.Linear(2 * width, 1)
        self.text = HashTextEmbedder(text_dim)
        self.video_proj = nn.Linear(2 * width, text_dim)

    def score(self, video: torch.Tensor, prompts: list[str]) -> JudgeScores:
        feats = self.encoder(video)  # [B, 2W]
        text = self.text(prompts).mean(dim=1)  # [B, D]
        agree = F.cosine_similarity(self.video_proj(feats), text, dim=-1)  # [B] in [-1, 1]
        return JudgeScores(
            phenomena_logits=self.phenomena(feats),
            commonsense=1.0 + 4.0 * torch.sigmoid(self.commonsense(feats).squeeze(-1)),
            semantic=3.0 + 2.0 * agree,
        )

    def training_loss(self, video: torch.Tensor, prompts: list[str], phenomena: torch.Tensor,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """One supervised step's loss: labels, real (5) vs. frame-shuffled (1) clips, matched vs. rolled prompts."""
        pos = self.score(video, prompts)
        perm = torch.randperm(video.shape[2], generator=generator)
        shuffled = self.score(video[:, :, perm], prompts)
        rolled = prompts[1:] + prompts[:1]
        mismatched = self.score(video, rolled) if len(prompts) > 1 else pos
        com = F.mse_loss(pos.commonsense, torch.full_like(pos.commonsense, 5.0)) + F.mse_loss(
            shuffled.commonsense, torch.full_like(shuffled.commonsense, 1.0))
        sem = F.mse_loss(pos.semantic, torch.full_like(pos.semantic, 5.0))
        if len(prompts) > 1:
            sem = sem + F.mse_loss(mismatched.semantic, torch.full_like(mismatched.semantic, 1.0))
        return F.binary_cross_entropy_with_logits(pos.phenomena_logits, phenomena) + 0.1 * (com + sem)
