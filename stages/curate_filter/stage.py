"""Curate filter: apply the policy to each clip; every dropped clip keeps `keep=false` and its reasons.

`reject_reason` lists every failed rule as `rule: measured vs limit`, joined by " | ", most decisive
first (error, duplicate, too_short ...), so the first label counts the clip in the stage's rejects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from physflow.data_catalog.schemas import CLIP_DECISIONS
from physflow.stages.base import Stage
from physflow.stages.curate_filter.config import FilterConfig

Row = dict[str, Any]

# (rule, measured column, policy field, failing comparison, unit), in the order reasons are listed.
_THRESHOLDS: tuple[tuple[str, str, str, str, str], ...] = (
    ("too_short", "duration_s", "min_duration_s", "<", "s"),
    ("too_long", "duration_s", "max_duration_s", ">", "s"),
    ("low_resolution", "height", "min_height", "<", "px high"),
    ("dark", "brightness", "min_brightness", "<", "mean luma"),
    ("bright", "brightness", "max_brightness", ">", "mean luma"),
    ("static", "static", "drop_static", "", ""),
    ("blurry", "blur", "min_blur", "<", "Laplacian variance"),
    ("low_motion", "motion_p90", "min_motion_p90", "<", "p90 flow"),
    ("high_motion", "motion_p90", "max_motion_p90", ">", "p90 flow"),
    ("text", "text_area", "max_text_area", ">", "text area"),
    ("low_motion_relevance", "motion_relevance", "min_motion_relevance", "<", "score"),
)


class FilterStage(Stage[FilterConfig, Row]):
    name = "curate_filter"
    VERSION = 2  # 2: writes only the decisions, in clip_decisions
    Config = FilterConfig
    table = CLIP_DECISIONS
    input_columns = ("duration_s", "height", "brightness", "blur", "motion_p90", "static", "text_area",
                     "duplicate_of", "motion_relevance", "error")

    def items(self, inputs: Sequence[list[Row]]) -> Sequence[Row]:
        return [row for rows in inputs for row in rows]

    def process(self, row: Row) -> Iterable[Row]:
        ids = {"clip_id": row["clip_id"], "video_id": row["video_id"]}
        if row.get("error"):  # the error itself stays in the table of the stage that failed
            yield {**ids, "keep": False, "reject_reason": None}
            return
        reasons = self.reasons(row)
        yield {**ids, "keep": not reasons, "reject_reason": " | ".join(reasons) or None}

    def reasons(self, row: Row) -> list[str]:
        c, out = self.config, []
        if c.drop_duplicates and row.get("duplicate_of"):
            out.append(f"duplicate: of {row['duplicate_of']} at distance {row.get('dup_distance')}")
        for rule, column, limit_field, op, unit in _THRESHOLDS:
            value, limit = row.get(column), getattr(c, limit_field)
            if rule == "static":
                if c.drop_static and row.get("static"):
                    out.append(f"static: motion p90 {row.get('motion_p90') or 0.0:.5f} of the diagonal per frame")
            elif value is not None and limit is not None and (value < limit if op == "<" else value > limit):
                out.append(f"{rule}: {value:.4g} {op} {limit:.4g} {unit}")
        return out

    def error_rows(self, row: Row, reason: str) -> list[Row]:
        return [{"clip_id": row["clip_id"], "video_id": row["video_id"], "keep": False, "error": reason}]


def run(inputs: Sequence[list[Row]], config: FilterConfig) -> pa.Table:
    return FilterStage(config).run(inputs)
