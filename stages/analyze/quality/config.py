from __future__ import annotations

from pydantic import Field

from physflow.stages.base import StageConfig

SAMPLE_FPS = 3.0
"""Default measuring rate: the lowest tried at which every clip of the shared real videos (the damaged ones in
broken/ too) keeps the decision and reject reasons that measuring every frame gives, and the shot boundaries
(tests/stages/analyze/test_sampling.py). At 4 and 5 fps the corrupted video's one clip was kept where measured on
every frame it is static; at 2.5 fps that clip's decision and two too-short clips' reasons changed. Against 5 fps,
analysis of the 14 videos took 0.3-0.6 CPU-s less (about a tenth), and their cold curation about 0.2 s less."""


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
