from __future__ import annotations

from typing import Literal

from pydantic import Field

from physflow.stages.base import StageConfig

COPY, REENCODE, AUTO = "copy", "reencode", "auto"
TARGET_CODEC = "h264"


class ExportConfig(StageConfig):
    """Kept clips as normalised H.264 MP4 blobs."""

    mode: Literal["copy", "reencode", "auto"] = Field(
        AUTO,
        description="'copy': cut by stream copy (no decode), a clip that cannot be copied is an error row; "
        "'reencode': decode and encode every clip; 'auto': copy a clip whose source is already H.264 yuv420p at "
        "the target size and rate and which starts on a keyframe with no frame referring outside it, else re-encode.",
    )
    fps: float | None = Field(None, ge=1.0, le=240.0, description="Target frame rate (None: the source rate; never up).")
    short_side: int = Field(256, ge=16, le=4320, description="Short side of the exported frames in px (never upscaled).")
    max_frames: int = Field(300, ge=1, le=100_000, description="Most frames written per clip (the rest is cut).")
    crf: int = Field(23, ge=0, le=51, description="libx264 constant rate factor (lower: better quality, bigger).")
