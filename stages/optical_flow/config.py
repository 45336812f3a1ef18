from __future__ import annotations

from typing import Literal

from pydantic import Field

from physflow.stages.base import StageConfig, WeightsField


class OpticalFlowConfig(StageConfig):
    method: Literal["dis", "raft"] = Field(
        "dis", description="Flow estimator: 'dis' (OpenCV DIS, embedded, no weights) or 'raft' (torchvision RAFT, "
        "weights from the registry name 'raft')."
    )
    width: int = Field(256, ge=32, le=2048, multiple_of=2, description="Working width in pixels (height keeps "
                       "the aspect ratio, rounded to even); flows are in pixels at this size.")
    dis_preset: Literal["ultrafast", "fast", "medium"] = Field(
        "medium", description="OpenCV DIS preset (speed against accuracy)."
    )
    raft_model: Literal["raft_small", "raft_large"] = Field(
        "raft_large", description="torchvision RAFT architecture the weights file holds."
    )
    raft_weights: str | None = Field(
        None, description="Local RAFT state-dict file; the flow fills it from the registry name 'raft'."
    )
    raft_iters: int = Field(12, ge=1, le=64, description="RAFT recurrent refinement iterations per pair.")
    raft_batch: int = Field(4, ge=1, le=128, description="Frame pairs per RAFT forward pass.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Torch device for RAFT; 'auto' picks CUDA when available."
    )
    sigma: float = Field(0.15, gt=0.0, le=100.0, description="VideoJAM opacity scale: m = min(1, sigma * |d| / "
                         "sqrt(H^2 + W^2)), dimensionless; 0.15 saturates at 6.7 diagonals, 6.67 at 0.15 of one.")
    background: int = Field(255, ge=0, le=255, description="Grey level (0-255) behind the flow colours.")
    rgb_crf: int = Field(18, ge=0, le=51, description="x264 constant rate factor of the flow-RGB MP4 (lower = "
                         "closer to lossless).")
    spectral_k: int = Field(16, ge=1, le=256, description="Lowest temporal frequencies kept in the spectral volume.")
    spectral_frames: int = Field(150, ge=2, le=10_000, description="Frames from the clip start whose trajectories "
                                 "form the spectral volume (fewer if the clip is shorter).")

    def weights_fields(self) -> dict[str, WeightsField]:
        return {"raft_weights": WeightsField(("raft",), required=True)} if self.method == "raft" else {}
