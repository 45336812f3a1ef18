from __future__ import annotations

from pydantic import Field, field_validator

from physflow.stages.base import StageConfig


class DedupConfig(StageConfig):
    """Near-duplicate clips by perceptual-hash distance, within a run and against the catalog."""

    max_distance: int = Field(
        10, ge=0, le=32,
        description="Largest Hamming distance (bits of 64) between corresponding keyframe pHashes of two duplicates.",
    )
    chunks: int = Field(4, ge=1, le=16, description="Substrings per hash in the multi-index (64 must divide evenly).")
    same_video: bool = Field(
        False, description="Also compare clips of the same video (off: windows of one long shot are not duplicates)."
    )

    @field_validator("chunks")
    @classmethod
    def _divides_64(cls, v: int) -> int:
        if 64 % v:
            raise ValueError(f"chunks={v} does not divide 64 bits evenly; use 1, 2, 4, 8 or 16")
        return v
