from __future__ import annotations

from pydantic import Field, model_validator

from physflow.stages.base import StageConfig


class FilterConfig(StageConfig):
    """The curation policy: each threshold with its unit; a clip failing any is kept as a row with its reasons.

    Defaults follow published pipelines: 2 s minimum clip (Open-Sora, Cosmos-Curate), a minimum frame
    height, optical-flow motion bounds, an OCR/text-area ceiling, and drops of static, dark and blurry clips.
    """

    min_duration_s: float = Field(2.0, ge=0.0, le=3600.0, description="Shortest kept clip, seconds.")
    max_duration_s: float = Field(60.0, gt=0.0, le=36000.0, description="Longest kept clip, seconds.")
    min_height: int = Field(240, ge=0, le=8192, description="Smallest source frame height kept, px.")
    min_brightness: float = Field(0.08, ge=0.0, le=1.0, description="Darkest kept clip: mean luma / 255.")
    max_brightness: float = Field(0.97, ge=0.0, le=1.0, description="Brightest kept clip: mean luma / 255.")
    min_blur: float = Field(
        30.0, ge=0.0, le=1e6, description="Blurriest kept clip: median variance of the Laplacian at the working width."
    )
    min_motion_p90: float = Field(
        0.0, ge=0.0, le=1.0, description="Least motion kept: p90 flow per frame / frame diagonal (0: off)."
    )
    max_motion_p90: float = Field(
        0.08, ge=0.0, le=1.0, description="Most motion kept: p90 flow per frame / frame diagonal (shake, flashes)."
    )
    max_text_area: float = Field(
        0.35, ge=0.0, le=1.0, description="Largest kept fraction of the frame covered by burned-in text boxes."
    )
    drop_static: bool = Field(True, description="Drop clips flagged static by the quality measures.")
    drop_duplicates: bool = Field(True, description="Drop clips that duplicate an earlier clip.")
    min_motion_relevance: float | None = Field(
        None, ge=0.0, le=1.0,
        description="Hook: drop clips whose motion-relevance score (physics-context stage) is below this; "
        "None: off. A clip without a score is kept.",
    )

    @model_validator(mode="after")
    def _ranges(self) -> FilterConfig:
        for low, high in (("min_duration_s", "max_duration_s"), ("min_brightness", "max_brightness"),
                          ("min_motion_p90", "max_motion_p90")):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} ({getattr(self, low)}) is above {high} ({getattr(self, high)})")
        return self
