"""WISA: the Wan DiT conditioned on physics (17-phenomenon labels and density/time/temperature as two extra
context tokens) with a physics classifier head on the last block's tokens; L = L_fm + lambda * BCE(classifier)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812  (the torch convention)

from physflow.models.text_store import EmbeddingStore
from physflow.models.wisa import BlockFeatures, PhysicsClassifier, PhysicsTokens
from physflow.stages.train.data.snapshot import DataConfig
from physflow.stages.train.recipes.base import Batch, drop_prompts, fm_loss
from physflow.stages.train.recipes.config import WisaConfig
from physflow.stages.train.recipes.dit_base import DiTRecipe


class WisaRecipe(DiTRecipe):
    name = "wisa"

    def __init__(self, config: WisaConfig, data: DataConfig, folder: Path | None, seed: int,
                 text_store: EmbeddingStore | None = None):
        super().__init__(config, data, folder, seed, text_store=text_store)
        dit = self.model.dit
        self.physics = PhysicsTokens(dit.config.text_dim)
        inner = dit.config.num_attention_heads * dit.config.attention_head_dim
        self.classifier = PhysicsClassifier(inner)
        self._features = BlockFeatures(dit.blocks[-1])

    def extra_tokens(self, batch: Batch) -> torch.Tensor:
        return self.physics(batch["phenomena"], batch["quantities"])  # [B, 2, D]

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        x0 = self.codec.encode(batch["video"])
        text = self.encode_text(drop_prompts(list(batch["prompt"]), self.config.text_dropout))
        tokens = self.extra_tokens(batch)
        x_t, t, target = self.noise(x0)
        u_x, _ = self.model(x_t, None, t, text, tokens)
        logits = self.classifier(self._features.take())  # [B, 17]
        loss_fm = fm_loss(u_x, target)
        loss_cls = F.binary_cross_entropy_with_logits(logits.float(), batch["phenomena"].float())
        return loss_fm + self.config.classifier_weight * loss_cls, {"loss_x": float(loss_fm.detach()), "loss_cls": float(loss_cls.detach())}
