from __future__ import annotations

from typing import Literal

from pydantic import Field

from physflow.stages.base import StageConfig, WeightsField
from physflow.stages.common.annotation import FrameSampling, WeightsRef


class PartMasksConfig(StageConfig):
    sampling: FrameSampling = Field(default_factory=FrameSampling, description="Frames to annotate per clip.")
    model: Literal["smpl", "smplx"] = Field("smpl", description="Body model family of the fits.")
    body_model: WeightsRef | None = Field(
        None, description="The body model file the fits used; None: physflow's procedural body.")
    num_betas: int = Field(10, ge=1, le=300, description="Shape coefficients of the fits.")
    threads: int = Field(1, ge=1, le=256, description="torch CPU threads while posing the fitted bodies.")
    objects: bool = Field(True, description="Add non-person tracks (and persons without a fit) as labels.")
    preview: bool = Field(True, description="Write one PNG contact sheet per clip (parts, boxes, ids, skeletons, hands).")
    sheet_frames: int = Field(4, ge=1, le=16, description="Frames on a clip's contact sheet, evenly spaced.")
    hand_hulls: bool = Field(True, description="Draw the pose rows' hands (landmarks' convex hull) as the left / "
                             "right hand labels for people without a fit in that frame.")
    trim_by_person_mask: bool = Field(True, description="Clear body labels outside the pose rows' person masks.")
    preview_alpha: float = Field(0.55, ge=0.0, le=1.0, description="Opacity of the label colours in the preview.")

    def weights_fields(self) -> dict[str, WeightsField]:
        return {"body_model": WeightsField((self.model,))}
