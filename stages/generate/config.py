"""Config of the generate stage: sampling, guidance, and phase 2's prior (nested)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from physflow.stages.base import StageConfig
from physflow.stages.generate.prior.config import CoarseAnnotationConfig, ExtractConfig, PriorConfig

TINY_CHECKPOINTS = ("tiny-revision", "tiny-videojam")


def is_pipeline_folder(value: str) -> bool:
    """A diffusers pipeline folder (what `physflow export` writes): a directory holding model_index.json."""
    return (Path(value).expanduser() / "model_index.json").is_file()


class GuidanceConfig(StageConfig):
    """Classifier-free guidance; for joint appearance-motion models, VideoJAM's Inner-Guidance (w1, w2)."""

    text: float = Field(5.0, ge=0, le=50, description="Text guidance weight (w1): u = (1 + w1) u(y) - w1 u(none).")
    motion: float = Field(3.0, ge=0, le=50, description="Inner-Guidance motion weight (w2), joint models only.")


class PriorRef(StageConfig):
    """A learned prior trained by the train_prior stage, in a catalog's blob store. Its sha256 names it; where
    it lies is left out of dumps (and so of cache keys)."""

    prior_id: str = Field(..., min_length=1, max_length=200, description="prior_id of the `physics_priors` row.")
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$", description="sha256 of the saved prior.")
    uri: str = Field(..., min_length=1, exclude=True, description="Blob uri of the saved prior.")
    catalog: str = Field(..., min_length=1, exclude=True, description="Catalog root the blob belongs to.")


class PriorTrainingConfig(StageConfig):
    """Phase 2's learned temporal priors: trained on the catalog's annotations by the train-physics-prior flow
    (`physflow train-prior`), or, for objects, on synthetic motion once per stage instance."""

    enabled: bool = Field(True, description="Use learned temporal priors (False: explicit terms only).")
    source: Literal["auto", "catalog", "synthetic"] = Field(
        "auto", description="catalog: the newest priors in `physics_priors` (fails before work when there are "
        "none); synthetic: an object prior trained on synthetic motion; auto: catalog when it has them, else "
        "synthetic.")
    objects: PriorRef | None = Field(None, description="The object-trajectory prior (set by the flow from the "
                                     "catalog).")
    bodies: PriorRef | None = Field(None, description="The body-pose-sequence prior (set by the flow from the "
                                    "catalog).")
    sequences: int = Field(16, ge=1, le=10_000, description="Synthetic: sequences per training set.")
    steps: int = Field(150, ge=1, le=100_000, description="Synthetic: training steps.")
    hidden: int = Field(32, ge=4, le=1024, description="Synthetic: hidden channels of the temporal conv denoiser.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Synthetic: seed of the data and training.")


class GenerateConfig(StageConfig):
    """How a prompt and a first frame become a coarse, a prior and a refined video."""

    checkpoint: str = Field("tiny-revision", min_length=1, max_length=1000, description="A checkpoint_id of the "
                            "`checkpoints` table ('<run_id>:<step>'), a diffusers pipeline folder written by `physflow "
                            "export` (Stable Video Diffusion / ReVision, Wan / VideoJAM), or an embedded random tiny "
                            "model: 'tiny-revision' (mask-conditioned UNet) or 'tiny-videojam' (joint appearance-motion "
                            "DiT).")
    frames: int = Field(8, ge=2, le=128, description="Frames per video.")
    width: int = Field(64, ge=16, le=2048, multiple_of=16, description="Frame width in pixels.")
    height: int = Field(64, ge=16, le=2048, multiple_of=16, description="Frame height in pixels.")
    fps: float = Field(8.0, gt=0, le=120, description="Frame rate of the generated videos (frames/s).")
    steps: int = Field(8, ge=1, le=1000, description="Euler steps of the flow-matching sampler, per phase.")
    guidance: GuidanceConfig = Field(default_factory=GuidanceConfig)
    sketch_confidence: float = Field(0.5, ge=0, le=1, description="Confidence given to a target sketch in phase 1.")
    prior: PriorConfig = Field(default_factory=PriorConfig, description="Phase 2's optimiser (its fps is replaced "
                               "by `fps`).")
    extract: ExtractConfig = Field(default_factory=ExtractConfig, description="Phase 2's object extraction.")
    annotation: CoarseAnnotationConfig = Field(default_factory=CoarseAnnotationConfig, description="Phase 2's "
                                               "annotation stages (detect, pose, body_fit) on the coarse video.")
    learned_prior: PriorTrainingConfig = Field(default_factory=PriorTrainingConfig)
    device: str | None = Field(None, pattern=r"^(cpu|cuda(:\d+)?|mps)$", description="torch device of the video "
                               "model in phases 1 and 3; None: cuda when available, else cpu.")
    physics_context: bool = Field(True, description="Pass the prompt through the physics context stage's rules "
                                  "reasoner (when that stage is installed) and sample from its enhanced prompt.")

    @field_validator("checkpoint")
    @classmethod
    def _known_checkpoint(cls, value: str) -> str:
        if is_pipeline_folder(value):
            return str(Path(value).expanduser().resolve())
        if value not in TINY_CHECKPOINTS and ":" not in value:
            raise ValueError(f"checkpoint {value!r} is neither an embedded tiny model ({', '.join(TINY_CHECKPOINTS)}), "
                             "a checkpoint_id ('<run_id>:<step>') nor a diffusers pipeline folder (model_index.json)")
        return value
