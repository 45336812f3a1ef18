from __future__ import annotations

from pydantic import Field

from physflow.stages.base import StageConfig


class ExportConfig(StageConfig):
    """Kept clips as normalised H.264 MP4 blobs."""

    fps: float | None = Field(None, ge=1.0, le=240.0, description="Target frame rate (None: the source rate; never up).")
    short_side: int = Field(256, ge=16, le=4320, description="Short side of the exported frames in px (never upscaled).")
    max_frames: int = Field(300, ge=1, le=100_000, description="Most frames written per clip (the rest is cut).")
    crf: int = Field(23, ge=0, le=51, description="libx264 constant rate factor (lower: better quality, bigger).")
