"""Curate filter: apply the policy to each clip; every dropped clip keeps `keep=false` and its reasons.

`reject_reason` lists every failed rule as `rule: measured vs limit`, joined by " | ", most decisive
first (error, duplicate, too_short ...), so the first label counts the clip in the stage's rejects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa

from data_catalog.schemas import CLIPS
from stages.base import Stage
from stages.curate_filter.config import FilterConfig

Row = dict[str, Any]


class FilterStage(Stage[FilterConfig, Row]):
    name = "curate_filter"
    VERSION = 1
    Config = FilterConfig
    table = CLIPS
    input_columns = ("duration_s", "height", "brightness", "blur", "motion_p90", "static", "text_area",
                     "duplicate_of", "motion_relevance", "error")

    def items(self, inputs: Sequence[list[Row]]) -> Sequence[Row]:
        return [row for rows in inputs for row in rows]

    def process(self, row: Row) -> Iterable[Row]:
        out = {k: v for k, v in row.items() if k != "motion_relevance"}
        if row.get("error"):
            yield {**out, "keep": False, "reject_reason": None}
            return
        reasons = self.reasons(row)
        yield {**out, "keep": not reasons, "reject_reason": " | ".join(reasons) or None}

    def reasons(self, row: Row) -> list[str]:
        c, out = self.config, []
        if c.drop_duplicates and row.get("duplicate_of"):
            out.append(f"duplicate: of {row['duplicate_of']} at distance {row.get('dup_distance')}")
        _below(out, "too_short", row.get("duration_s"), c.min_duration_s, "s")
        _above(out, "too_long", row.get("duration_s"), c.max_duration_s, "s")
        _below(out, "low_resolution", row.get("height"), c.min_height, "px high")
        _below(out, "dark", row.get("brightness"), c.min_brightness, "mean luma")
        _above(out, "bright", row.get("brightness"), c.max_brightness, "mean luma")
        if c.drop_static and row.get("static"):
            out.append(f"static: motion p90 {row.get('motion_p90', 0.0):.5f} of the diagonal per frame")
        _below(out, "blurry", row.get("blur"), c.min_blur, "Laplacian variance")
        _below(out, "low_motion", row.get("motion_p90"), c.min_motion_p90, "p90 flow")
        _above(out, "high_motion", row.get("motion_p90"), c.max_motion_p90, "p90 flow")
        _above(out, "text", row.get("text_area"), c.max_text_area, "text area")
        if c.min_motion_relevance is not None:
            _below(out, "low_motion_relevance", row.get("motion_relevance"), c.min_motion_relevance, "score")
        return out

    def error_rows(self, row: Row, reason: str) -> list[Row]:
        return [{**row, "keep": False, "error": reason}]


def _below(out: list[str], rule: str, value: float | None, limit: float, unit: str) -> None:
    if value is not None and value < limit:
        out.append(f"{rule}: {value:.4g} < {limit:.4g} {unit}")


def _above(out: list[str], rule: str, value: float | None, limit: float, unit: str) -> None:
    if value is not None and value > limit:
        out.append(f"{rule}: {value:.4g} > {limit:.4g} {unit}")


def run(inputs: Sequence[list[Row]], config: FilterConfig) -> pa.Table:
    return FilterStage(config).run(inputs)
