"""Config of the learned-prior training stage."""

from __future__ import annotations

from pydantic import Field

from physflow.stages.base import StageConfig, WeightsField
from physflow.stages.common.annotation import WeightsRef


class TrainPriorConfig(StageConfig):
    """How object trajectories and body-pose sequences of the catalog become two temporal priors."""

    window: int = Field(16, ge=4, le=512, description="Frames per training sequence (a window of a track).")
    hop: int = Field(4, ge=1, le=512, description="Frames between the starts of consecutive windows of a track.")
    min_sequences: int = Field(8, ge=1, le=1_000_000, description="Fewer windows of a kind than this: that "
                               "prior is not trained (its row says why).")
    max_sequences: int = Field(20_000, ge=1, le=10_000_000, description="At most this many windows per kind "
                               "(evenly spaced over all of them).")
    heldout: float = Field(0.1, ge=0.0, le=0.5, description="Fraction of windows (every k-th) kept out of "
                           "training to measure the prior's denoising gain.")
    steps: int = Field(400, ge=1, le=1_000_000, description="Adam steps per prior.")
    batch: int = Field(32, ge=1, le=4096, description="Windows per step.")
    lr: float = Field(3e-3, gt=0, le=1, description="Adam learning rate.")
    noise: float = Field(0.1, gt=0, le=10, description="Std of the jitter added in training (network units).")
    hidden: int = Field(32, ge=4, le=1024, description="Hidden channels of each temporal conv denoiser.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of sampling and initialisation.")
    metres_high: float = Field(2.0, gt=0, le=1000, description="Height of a frame in metres for object tracks "
                               "(generation's phase 2 uses the same orthographic scale).")
    max_objects: int = Field(16, ge=1, le=1024, description="Object tracks used per clip (the longest).")
    body_model: WeightsRef | None = Field(None, description="SMPL file the body fits were made with (rest joints "
                                          "per shape); None: physflow's procedural body.")

    def weights_fields(self) -> dict[str, WeightsField]:
        return {"body_model": WeightsField(("smpl",))}
