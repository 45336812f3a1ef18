"""Curate filter: one policy config; every dropped clip keeps keep=false and a reject_reason."""

from physflow.stages.curate_filter.config import FilterConfig
from physflow.stages.curate_filter.stage import FilterStage, run

__all__ = ["FilterConfig", "FilterStage", "run"]
