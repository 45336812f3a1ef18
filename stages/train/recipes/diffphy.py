"""DiffPhy: LoRA (peft) on a frozen Wan DiT; L = L_fm + beta (L_phen + L_com + L_sem), the judge terms computed
by a PhysicsJudge on the decoded x_0 prediction. The embedded judge is fitted on the training set's labels in
`prepare`, then frozen."""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig

from physflow.models.physics_judge import EmbeddedPhysicsJudge, judge_losses
from physflow.models.text_store import EmbeddingStore
from physflow.stages.train.data.snapshot import DataConfig
from physflow.stages.train.recipes.base import Batch, fm_loss, x0_from_velocity
from physflow.stages.train.recipes.config import DiffPhyConfig
from physflow.stages.train.recipes.dit_base import DiTRecipe

LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


class DiffPhyRecipe(DiTRecipe):
    name = "diffphy"

    def __init__(self, config: DiffPhyConfig, data: DataConfig, folder: Path | None, seed: int,
                 text_store: EmbeddingStore | None = None):
        super().__init__(config, data, folder, seed, text_store=text_store)
        dit = self.model.dit.requires_grad_(False)
        dit.add_adapter(LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, init_lora_weights=True,
                                   target_modules=LORA_TARGETS))
        if isinstance(self.text, torch.nn.Module):
            self.text.requires_grad_(False)
        self.judge = EmbeddedPhysicsJudge(text_dim=32).requires_grad_(False)

    def prepare(self, batches: list[Batch]) -> dict[str, float]:
        """Fit the embedded judge on the data's phenomena labels, real vs. shuffled clips, matched vs. rolled prompts."""
        if not self.config.judge_steps or not batches:
            return {}
        self.judge.requires_grad_(True).train()
        opt = torch.optim.AdamW(self.judge.parameters(), lr=self.config.judge_lr)
        losses = []
        for step in range(self.config.judge_steps):
            batch = batches[step % len(batches)]
            loss = self.judge.training_loss(batch["video"], list(batch["prompt"]), batch["phenomena"].float())
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        self.judge.requires_grad_(False).eval()
        return {"judge_loss_first": losses[0], "judge_loss_last": losses[-1]}

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        x0 = self.codec.encode(batch["video"])
        prompts = list(batch["prompt"])
        x_t, t, target = self.noise(x0)
        u_x, _ = self.model(x_t, None, t, self.encode_text(prompts))
        loss_fm = fm_loss(u_x, target)
        video_hat = self.codec.decode(x0_from_velocity(x_t, t, u_x)).clamp(-1, 1)
        terms = judge_losses(self.judge.score(video_hat, prompts), batch["phenomena"].float())
        loss = loss_fm + self.config.beta * (terms["phen"] + terms["com"] + terms["sem"])
        return loss, {"loss_x": float(loss_fm.detach()), **{f"judge_{k}": float(v.detach()) for k, v in terms.items()}}
