"""One typed, frozen config per recipe; `RecipeConfig` is their union, selected by the `recipe` field."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from physflow.stages.base import StageConfig


class DiTSize(StageConfig):
    """Size of the Wan DiT built in code when no pretrained base is used."""

    heads: int = Field(2, ge=1, le=64, description="Attention heads.")
    head_dim: int = Field(16, ge=4, le=256, description="Channels per head.")
    layers: int = Field(2, ge=1, le=64, description="Transformer blocks.")
    ffn_dim: int = Field(64, ge=8, le=65536, description="Feed-forward hidden width.")
    text_dim: int = Field(32, ge=8, le=8192, description="Text embedding width (hash embedder output).")


class _RecipeBase(StageConfig):
    base: Literal["tiny", "video-base"] = Field(
        "tiny", description="'tiny': a randomly initialised model built in code; 'video-base': the local diffusers "
        "folder named `video-base` in the weights registry (never a hub download).")


class RevisionConfig(_RecipeBase):
    """ReVision: SVD UNet with zero-initialised part-mask + confidence input channels."""

    recipe: Literal["revision"] = "revision"
    use_masks: bool = Field(True, description="Extend the UNet with the mask channels (False: the plain UNet, for comparison).")
    mask_mix: tuple[float, float, float] = Field(
        (0.4, 0.3, 0.3), description="Probabilities of exact per-frame masks (conf 1), a final-frame sketch (0.5), none (0).")
    channels: tuple[int, int] = Field((32, 32), description="UNet block widths, multiples of 32 (tiny base only).")
    train_layers: Literal["first_block_temporal", "all"] = Field(
        "first_block_temporal", description="Parameters fine-tuned: conv_in + first block + temporal layers, or all.")
    text_dim: int = Field(32, ge=8, le=8192, description="Cross-attention context width (tiny base only).")

    @model_validator(mode="after")
    def _mix_sums_to_one(self) -> RevisionConfig:
        if any(p < 0 for p in self.mask_mix) or abs(sum(self.mask_mix) - 1.0) > 1e-6:
            raise ValueError(f"mask_mix must be three non-negative probabilities summing to 1, got {self.mask_mix}")
        return self


class VideoJAMConfig(_RecipeBase):
    """VideoJAM: joint appearance + flow DiT with flow-matching loss on both."""

    recipe: Literal["videojam"] = "videojam"
    dit: DiTSize = Field(default_factory=DiTSize)
    use_flow: bool = Field(True, description="Add the flow latent (False: the same DiT without flow, for comparison).")
    text_dropout: float = Field(0.3, ge=0, le=1, description="Fraction of steps trained with the empty prompt.")
    flow_dropout: float = Field(0.2, ge=0, le=1, description="Fraction of steps trained with no flow input.")
    flow_loss_weight: float = Field(1.0, ge=0, le=100, description="Weight of the flow velocity loss.")
    w1: float = Field(5.0, ge=0, le=50, description="Inner-Guidance text weight.")
    w2: float = Field(3.0, ge=0, le=50, description="Inner-Guidance motion weight.")


class WisaConfig(_RecipeBase):
    """WISA: phenomena and quantities as extra DiT context tokens, plus a physics classifier head."""

    recipe: Literal["wisa"] = "wisa"
    dit: DiTSize = Field(default_factory=DiTSize)
    classifier_weight: float = Field(0.1, ge=0, le=100, description="Weight of the physics classifier's BCE loss.")
    text_dropout: float = Field(0.1, ge=0, le=1, description="Fraction of steps trained with the empty prompt.")


class DiffPhyConfig(_RecipeBase):
    """DiffPhy: LoRA on a frozen DiT; L = L_eps + beta (L_phen + L_com + L_sem) from a PhysicsJudge."""

    recipe: Literal["diffphy"] = "diffphy"
    dit: DiTSize = Field(default_factory=DiTSize)
    lora_rank: int = Field(4, ge=1, le=256, description="LoRA rank on the attention projections.")
    lora_alpha: float = Field(4.0, gt=0, le=1024, description="LoRA alpha.")
    beta: float = Field(0.05, ge=0, le=100, description="Weight of the judge losses.")
    judge: Literal["embedded"] = Field("embedded", description="The physics judge: the embedded small classifier.")
    judge_steps: int = Field(40, ge=0, le=100_000, description="Steps that train the embedded judge on the data's labels first.")
    judge_lr: float = Field(3e-3, gt=0, le=1, description="Learning rate of the embedded judge's training.")


RecipeConfig = Annotated[RevisionConfig | VideoJAMConfig | WisaConfig | DiffPhyConfig, Field(discriminator="recipe")]
RECIPES: dict[str, type[StageConfig]] = {
    "revision": RevisionConfig, "videojam": VideoJAMConfig, "wisa": WisaConfig, "diffphy": DiffPhyConfig,
}
