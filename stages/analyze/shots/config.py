from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from physflow.stages.base import StageConfig


class ShotsConfig(StageConfig):
    """Shot boundaries (content or PySceneDetect's adaptive detector, on the shared decode) and clip windows."""

    detector: Literal["content", "adaptive"] = Field(
        "content", description="'content': cuts where the mean HSV change reaches `threshold` (PySceneDetect's "
        "ContentDetector rule, computed by physflow); 'adaptive': PySceneDetect's AdaptiveDetector (rolling average)."
    )
    threshold: float = Field(
        27.0, ge=1.0, le=255.0, description="ContentDetector threshold: mean HSV change (0-255) that marks a cut."
    )
    adaptive_threshold: float = Field(
        3.0, ge=0.5, le=50.0, description="AdaptiveDetector ratio of a frame's change to its neighbours' average."
    )
    width: int = Field(
        128, ge=16, le=1920,
        description="Longer side in px of the frames the detector compares (area-averaged from the working size; "
        "the cut decisions on the shared real videos are the same as at 256 px).",
    )
    min_shot_s: float = Field(0.5, ge=0.0, le=60.0, description="Shortest shot in seconds (no cut sooner).")
    fade_step: float = Field(
        12.0, ge=0.0, le=255.0,
        description="Luma jump (0-255) below which a boundary lying on a luma ramp is a gradual transition.",
    )
    fade_frames: int = Field(3, ge=2, le=30, description="Frames of monotone luma change that make a ramp (fade).")
    black_luma: float = Field(
        16.0, ge=0.0, le=128.0, description="Mean luma (0-255) under which a frame near a ramp counts as a fade's end."
    )
    min_clip_s: float = Field(2.0, ge=0.1, le=600.0, description="Shortest clip in seconds (shorter shots stay as rows).")
    max_clip_s: float = Field(
        10.0, ge=0.2, le=3600.0, description="Longest clip in seconds; longer shots split into equal windows."
    )

    @model_validator(mode="after")
    def _windows_fit(self) -> ShotsConfig:
        if self.max_clip_s < 2 * self.min_clip_s:
            raise ValueError(
                f"max_clip_s ({self.max_clip_s}) must be at least twice min_clip_s ({self.min_clip_s}) so that "
                "split windows are never shorter than min_clip_s"
            )
        return self
