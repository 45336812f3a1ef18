from __future__ import annotations

from typing import Literal

from pydantic import Field

from physflow.stages.base import StageConfig


class IngestConfig(StageConfig):
    decode_check: Literal["full", "first", "none"] = Field(
        "full",
        description=(
            "How much of each video to decode to prove it readable: 'full' decodes every frame (exact frame "
            "count, finds corruption anywhere), 'first' one frame, 'none' reads headers only."
        ),
    )
