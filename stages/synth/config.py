from __future__ import annotations

from pydantic import Field

from physflow.stages.base import StageConfig


class SynthConfig(StageConfig):
    """How synthetic physics clips are rendered (scene parameters are drawn per clip from its seed)."""

    width: int = Field(256, ge=64, le=1920, multiple_of=2, description="Frame width in pixels (even, for H.264).")
    height: int = Field(192, ge=64, le=1080, multiple_of=2, description="Frame height in pixels (even).")
    fps: float = Field(16.0, ge=4.0, le=120.0, description="Frames per second of the rendered clip.")
    n_frames: int = Field(32, ge=8, le=600, description="Frames per clip.")
    gravity: float = Field(9.81, gt=0.0, le=50.0, description="Gravitational acceleration in m/s^2.")
    world_height_m: float = Field(2.6, ge=1.0, le=20.0, description="Metres of world shown above the floor.")
    crf: int = Field(16, ge=0, le=51, description="x264 constant rate factor (lower = closer to the render).")
    flow_every: int = Field(
        2, ge=0, le=1000,
        description="Store analytic optical flow for every k-th clip (by clip index); 0 stores none.",
    )
