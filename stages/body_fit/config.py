from __future__ import annotations

from typing import Literal

from pydantic import Field

from physflow.stages.base import StageConfig, WeightsField
from physflow.stages.common.annotation import WeightsRef


class BodyFitConfig(StageConfig):
    model: Literal["smpl", "smplx"] = Field("smpl", description="Body model family the file holds.")
    body_model: WeightsRef | None = Field(
        None, description="SMPL (.pkl) or SMPL-X (.npz/.pkl) file; None builds physflow's procedural body in that format.")
    num_betas: int = Field(10, ge=1, le=300, description="Shape coefficients fitted per track.")
    focal_scale: float = Field(1.0, gt=0.1, le=10.0, description="Focal length as a multiple of the frame diagonal.")
    min_conf: float = Field(0.3, ge=0.0, le=1.0, description="Keypoints below this confidence are ignored.")
    min_keypoints: int = Field(6, ge=3, le=17, description="Frames with fewer confident keypoints are not fitted.")
    world_init: bool = Field(True, description="Start each frame's orientation from the pose rows' 3D world landmarks "
                             "when they have them (BlazePose), else guess upright facing or turned away.")
    hands: bool = Field(True, description="SMPL-X: fit both hands' poses to the pose rows' 21 hand landmarks (2D, "
                        "and the world landmarks for the fingers' shape); SMPL has no fingers and ignores it.")
    hand_world: bool = Field(True, description="Use the hand world landmarks (finger shape) when rows have them.")
    min_hand_presence: float = Field(0.5, ge=0.0, le=1.0, description="Hands below this presence are not fitted.")
    iters_hands: int = Field(100, ge=0, le=100_000, description="Adam steps of the last phase with the hands.")
    w_world: float = Field(1000.0, ge=0.0, le=1e8, description="Weight of the 3D term: the body's joints against the "
                           "pose rows' world landmarks (metres^2, up to a translation, by visibility); 0 = off.")
    iters_camera: int = Field(60, ge=0, le=10_000, description="Adam steps fitting orientation and translation.")
    iters_full: int = Field(200, ge=1, le=100_000, description="Adam steps fitting every parameter.")
    lr: float = Field(0.05, gt=0.0, le=1.0, description="Adam learning rate.")
    w_pose: float = Field(1.0, ge=0.0, le=1e6, description="Weight of the pose prior (squared axis-angle).")
    w_shape: float = Field(2.0, ge=0.0, le=1e6, description="Weight of the shape prior (squared betas).")
    w_limits: float = Field(300.0, ge=0.0, le=1e8, description="Weight of the elbow and knee joint limits.")
    w_smooth: float = Field(500.0, ge=0.0, le=1e8, description="Weight of temporal smoothness (joints, m^2; pose).")
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:\d+)?|mps)$", description="torch device for fitting.")
    threads: int = Field(1, ge=1, le=256, description="torch CPU threads while fitting.")

    def weights_fields(self) -> dict[str, WeightsField]:
        return {"body_model": WeightsField((self.model,))}
