"""What a flow returns: the artifacts its stages wrote (or found cached), and a summary of the run.

Every flow the pipeline runs as a step returns a `FlowResult` (the curate flow's `CurateResult` has the same
two fields), so the pipeline reads `result.refs` without looking at the result's shape.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from physflow.flows.runtime import ArtifactRef


class FlowResult(BaseModel):
    """The artifacts of one flow run, in the order its stages produced them, and what else it reports."""

    refs: list[ArtifactRef] = Field(default_factory=list)
    summary: dict[str, Any] = Field(default_factory=dict)

    def by_stage(self) -> dict[str, list[ArtifactRef]]:
        """The artifacts grouped by stage name, stages in first-seen order."""
        out: dict[str, list[ArtifactRef]] = {}
        for ref in self.refs:
            out.setdefault(ref.stage, []).append(ref)
        return out

    def stage(self, name: str) -> list[ArtifactRef]:
        """The artifacts of one stage (empty when the stage wrote none)."""
        return [ref for ref in self.refs if ref.stage == name]
