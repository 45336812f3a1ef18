from __future__ import annotations

from pydantic import Field

from physflow.stages.base import StageConfig

SAMPLE_FPS = 3.0
"""Default measuring rate, the lowest tried whose measures keep every decision on the shared real videos that
measuring every frame gives (tests/stages/analyze/test_sampling.py: each clip's keep and its reject reasons, and
the shot boundaries). At 2 and 2.5 fps two clips too short to keep gained or lost a second reason (static); at 3
fps none did. Against 5 fps, analysis of the 14 videos took 0.3-0.6 CPU-s less (about a tenth), and their cold
curation 0.2 s less."""


class QualityConfig(StageConfig):
    """Per-frame measures taken on the shared decode, aggregated per clip."""

    sample_fps: float | None = Field(
        SAMPLE_FPS, gt=0.0, le=240.0,
        description="Frames per second blur, pHash, motion and camera are measured on (None: every frame); "
        "luma and shot detection always read every frame.",
    )
    flow_width: int = Field(160, ge=32, le=1024, description="Longer side in px of the grey frames DIS optical flow runs on.")
    flow_every: int = Field(1, ge=1, le=30, description="Optical flow on every n-th consecutive frame pair.")
    texture_min: float = Field(
        40.0, ge=0.0, le=2000.0, description="Sobel gradient magnitude (grey 0-255) above which a pixel's flow counts."
    )
    static_p90: float = Field(
        0.0015, ge=0.0, le=1.0,
        description="A clip is static when its p90 flow magnitude per frame, as a fraction of the frame diagonal, "
        "is below this.",
    )
    text_every_s: float = Field(1.0, gt=0.0, le=60.0, description="Seconds between the keyframes MSER text runs on.")
    hash_keyframes: int = Field(3, ge=1, le=8, description="Keyframes per clip hashed (evenly spaced inside the clip).")
