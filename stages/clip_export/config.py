from __future__ import annotations

from typing import Literal

from pydantic import Field

from physflow.stages.base import StageConfig

COPY, REENCODE, AUTO = "copy", "reencode", "auto"
TARGET_CODEC = "h264"
LOOKAHEAD = 10
"""Frames x264's macroblock-tree rate control looks ahead at the presets that would switch it off (`x264_params`):
veryfast's setting."""


def x264_params(preset: str) -> str:
    """The x264 options export adds to `preset` (after `video_io.write_video`'s own, which keep the bytes
    reproducible): at ultrafast and superfast, the macroblock-tree rate control with veryfast's 10-frame lookahead,
    which those presets switch off: superfast without it wrote clips 1.8 times veryfast's size at the same CRF (the
    kept clips of the shared real videos); with it, 1.13 times."""
    return f"mbtree=1:rc-lookahead={LOOKAHEAD}" if preset in ("ultrafast", "superfast") else ""


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
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = Field(
        "superfast",
        description="libx264 preset of re-encoded clips (slower: smaller files at the same CRF). At ultrafast and "
        "superfast the rate control is still veryfast's (macroblock tree, 10-frame lookahead). On the shared real "
        "videos' clips (2,900 frames at 256 px, benchmarks/export_preset.py), superfast encoded in 0.63-0.70 times "
        "veryfast's time, 1.13 times the bytes at 0.1-0.2 dB lower PSNR; at equal bytes, 0.9 dB lower.",
    )
