"""Settings of the physics-prior optimisation (smoothness, joint limits, ground contact, gravity): shared by
generation's phase 2 and the physics-prior training."""

from __future__ import annotations

from pydantic import Field

from physflow.stages.base import StageConfig


class PriorWeights(StageConfig):
    """Weight of each energy term; 0 switches a term off."""

    data: float = Field(100.0, ge=0, le=1e4, description="Robust distance to the observed sequence (per m^2).")
    smooth: float = Field(1.0, ge=0, le=1e6, description="Squared jerk (third difference, m^2) of every point, "
                          "bounces left out.")
    gravity: float = Field(100.0, ge=0, le=1e6, description="Ballistic residual of free objects in the air: "
                           "second difference minus g dt^2 (m^2).")
    ground: float = Field(10000.0, ge=0, le=1e6, description="Squared penetration below the ground plane (m^2).")
    contact: float = Field(100.0, ge=0, le=1e6, description="Squared horizontal step (m^2) of body points "
                           "touching the ground (no foot skating).")
    joint_limits: float = Field(100.0, ge=0, le=1e6, description="Squared excess of joint angles over their "
                                "limits (rad^2).")
    intensity: float = Field(1.0, ge=0, le=1e4, description="Squared relative gap between the mean speed and "
                             "the speed the text asks for.")
    learned: float = Field(1.0, ge=0, le=1e4, description="Energy of the learned temporal prior.")


class PriorConfig(StageConfig):
    """How phase 2 optimises object trajectories and body-pose sequences."""

    weights: PriorWeights = Field(default_factory=PriorWeights, description="Per-term weights.")
    fps: float = Field(8.0, gt=0, le=240, description="Frame rate of the sequence (frames/s).")
    gravity: float = Field(9.81, ge=0, le=100, description="Gravitational acceleration (m/s^2), along -y.")
    ground_y: float = Field(0.0, ge=-100, le=100, description="Height of the ground plane (m, y up).")
    contact_height: float = Field(0.03, ge=0, le=1, description="A point this close above the ground (m) "
                                  "counts as touching it.")
    robust_scale: float = Field(0.05, gt=0, le=10, description="Scale (m) of the robust (Geman-McClure) "
                                "data term: observations much further than this count as outliers.")
    steps: int = Field(200, ge=1, le=10000, description="Adam steps of the optimiser.")
    lr: float = Field(0.01, gt=0, le=1, description="Adam learning rate (m or rad per step).")
