"""prune-catalog: free the space of superseded artifacts and of the blobs only they held, on a schedule.

See data_catalog/prune.py for what goes and what never does. The run's markdown artifact lists the space freed
per stage.
"""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog
from physflow.data_catalog.prune import DEFAULT_OLDER_THAN_S, PruneReport, prune_catalog, size_text, summary_line
from physflow.flows.ingest import DEFAULT_CATALOG
from physflow.flows.prefect_flow import flow


class PruneParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder.")
    older_than_s: float = Field(
        DEFAULT_OLDER_THAN_S, ge=0, le=10 * 365 * 86400,
        description="Prune artifacts superseded (a newer one registered for their stage's shard) longer ago than "
        "this many seconds; those superseded since stay, so a config changed back within it is still Cached.")
    dry_run: bool = Field(False, description="Only report what would be pruned.")


def markdown(report: PruneReport) -> str:
    lines = ["# Catalog prune" + (" (dry run)" if report.dry_run else ""), "", summary_line(report), ""]
    if report.pruned:
        lines += ["| stage | artifacts | size |", "|---|---:|---:|"]
        lines += [f"| {stage} | {n} | {size_text(b)} |" for stage, (n, b) in report.by_stage().items()]
        lines += [f"| blobs | {report.blobs} | {size_text(report.blob_bytes)} |"]
    return "\n".join(lines)


@flow(name="prune-catalog", log_prints=True)
def prune_flow(params: PruneParams) -> dict[str, Any]:
    report = prune_catalog(Catalog(params.catalog), older_than_s=params.older_than_s, dry_run=params.dry_run)
    create_markdown_artifact(markdown=markdown(report), key="catalog-prune", description="catalog prune")
    print(summary_line(report))
    return {"artifacts": len(report.pruned), "artifact_bytes": report.artifact_bytes, "blobs": report.blobs,
            "blob_bytes": report.blob_bytes, "kept_recent": report.kept_recent, "dry_run": report.dry_run}
