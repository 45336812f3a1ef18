"""One DuckDB query joins kept clips with flows, part masks and physics context into a training snapshot.

The snapshot records the keys of the artifacts it read (the current artifacts of those four tables), so a
checkpoint names exactly the data it was trained on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from physflow.data_catalog import Catalog
from physflow.data_catalog.schemas import CLIPS, CURATION_COLUMNS, FLOWS, PART_MASKS, PHYSICS_CONTEXT
from physflow.stages.base import StageConfig
from physflow.stages.common.annotation import LABEL_SCALE

SNAPSHOT_TABLES = (CLIPS, *CURATION_COLUMNS, FLOWS, PART_MASKS, PHYSICS_CONTEXT)

_QUERY = """
WITH kept AS (
    SELECT clip_id, clip_uri FROM clips
    WHERE keep AND error IS NULL AND clip_uri IS NOT NULL
), fl AS (
    SELECT clip_id, flow_rgb_uri,
           row_number() OVER (PARTITION BY clip_id ORDER BY (method = $method) DESC, method) AS rn
    FROM flows WHERE error IS NULL AND flow_rgb_uri IS NOT NULL
), pm AS (
    SELECT clip_id, list(struct_pack(frame := frame, mask_uri := mask_uri, confidence := confidence) ORDER BY frame) AS masks
    FROM part_masks WHERE error IS NULL AND mask_uri IS NOT NULL GROUP BY clip_id
), pc AS (
    SELECT clip_id, coalesce(enhanced_prompt, prompt) AS prompt, categories, quantities,
           row_number() OVER (PARTITION BY clip_id ORDER BY prompt_id) AS rn
    FROM physics_context WHERE error IS NULL AND clip_id IS NOT NULL
)
SELECT k.clip_id, k.clip_uri, fl.flow_rgb_uri, pm.masks, pc.prompt, pc.categories, pc.quantities
FROM kept k
LEFT JOIN fl ON fl.clip_id = k.clip_id AND fl.rn = 1
LEFT JOIN pm ON pm.clip_id = k.clip_id
LEFT JOIN pc ON pc.clip_id = k.clip_id AND pc.rn = 1
WHERE ($require_flow = false OR fl.flow_rgb_uri IS NOT NULL)
  AND ($require_masks = false OR pm.masks IS NOT NULL)
  AND ($require_context = false OR pc.prompt IS NOT NULL)
ORDER BY k.clip_id
"""


class DataConfig(StageConfig):
    """What the training set reads and how it samples clips."""

    frames: int = Field(8, ge=2, le=256, description="Frames per training sample.")
    stride: int = Field(1, ge=1, le=16, description="Take every stride-th frame of the clip.")
    size: int = Field(32, ge=8, le=2048, description="Square training resolution in pixels (resize short side, center crop).")
    flow_method: str = Field("raft", min_length=1, max_length=32, description="Preferred flows.method when a clip has several.")
    require_flow: bool = Field(False, description="Keep only clips that have a flow RGB rendering.")
    require_masks: bool = Field(False, description="Keep only clips that have part masks.")
    require_context: bool = Field(False, description="Keep only clips that have a physics_context row.")
    max_parts: int = Field(LABEL_SCALE, ge=1, le=255, description="Part labels are divided by this to form the mask "
                           "channel; 255 keeps the catalog's labels (body parts 1-24, objects from 64) within [0, 1].")
    limit: int | None = Field(None, ge=1, description="Use at most this many clips (first by clip_id).")


@dataclass
class TrainingSnapshot:
    """The rows of one training set and the artifact keys they came from."""

    rows: list[dict[str, Any]]
    artifact_keys: list[str]
    counts: dict[str, int] = field(default_factory=dict)


def load_snapshot(catalog: Catalog, config: DataConfig) -> TrainingSnapshot:
    """Run the training-set query; fails before training when it selects no clip."""
    params = {"method": config.flow_method, "require_flow": config.require_flow,
              "require_masks": config.require_masks, "require_context": config.require_context}
    with catalog.reader() as con:
        cursor = con.execute(_QUERY, params)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        keys = [r[0] for r in con.execute(
            "SELECT key FROM current_artifacts WHERE table_name IN (SELECT unnest($t)) ORDER BY key",
            {"t": list(SNAPSHOT_TABLES)},
        ).fetchall()]
    if config.limit:
        rows = rows[: config.limit]
    if not rows:
        raise ValueError(
            f"the training set is empty: catalog {catalog.root.uri} has no kept clip with clip_uri matching "
            f"require_flow={config.require_flow}, require_masks={config.require_masks}, "
            f"require_context={config.require_context}"
        )
    for row in rows:
        row["quantities"] = json.loads(row["quantities"]) if row.get("quantities") else {}
    counts = {"clips": len(rows), "with_flow": sum(r["flow_rgb_uri"] is not None for r in rows),
              "with_masks": sum(r["masks"] is not None for r in rows),
              "with_context": sum(r["prompt"] is not None for r in rows)}
    return TrainingSnapshot(rows=rows, artifact_keys=keys, counts=counts)
