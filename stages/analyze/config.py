from __future__ import annotations

from typing import Literal

from pydantic import Field

from physflow.stages.analyze.quality.config import QualityConfig
from physflow.stages.analyze.shots.config import ShotsConfig
from physflow.stages.base import StageConfig
from physflow.stages.common.video_io import PLANES_LINEAR


class AnalyzeConfig(StageConfig):
    """One decode pass per video at a working resolution, feeding shot detection and every per-frame measure."""

    width: int = Field(
        256, ge=64, le=1920,
        description="Working size in px the frames are decoded at: their width, or their height when taller than "
        "wide (aspect kept), so that a portrait video is measured at the scale of its landscape turn.",
    )
    threads: int = Field(0, ge=0, le=64, description="Decoder threads per video (0: FFmpeg chooses).")
    prefetch: int = Field(
        8, ge=0, le=256,
        description="Frames decoded and scaled ahead by a reader thread while the measures run (0: no reader "
        "thread). Analysis uses this thread plus `threads` decoder threads.",
    )
    scaler: Literal["planes_linear", "planes_area", "FAST_BILINEAR", "BILINEAR", "AREA", "BICUBIC"] = Field(
        PLANES_LINEAR,
        description="How decoded frames are scaled to the working width: 'planes_linear' resizes the decoder's "
        "yuv420p planes with OpenCV's bilinear filter (no swscale pass: about a quarter less analysis time; "
        "sources in other pixel formats use FAST_BILINEAR), 'planes_area' area-averages them (every measure on "
        "anti-aliased frames, about a third more analysis time from HD); the others name the swscale filter. "
        "Whatever the scaler, blur reads the frames it measures area-averaged, so a sharpness threshold "
        "means the same for a 4K source as for a 480p one.",
    )
    deblock: bool = Field(
        False,
        description="Run the decoder's in-loop deblocking filter. Off by default: H.264 and HEVC then decode about "
        "a fifth faster, and the filter's pixel changes mostly vanish in the small working frame (the clip "
        "decisions on the shared real videos are the same either way). Export always decodes with it.",
    )
    shots: ShotsConfig = Field(default_factory=ShotsConfig, description="Shot detection and clip windows.")
    quality: QualityConfig = Field(default_factory=QualityConfig, description="Per-frame quality measures.")
