"""verify-catalog: the deep check of a catalog (every manifest, artifact and blob read in full), on a schedule.

A run that finds damage and was not asked to repair it ends Failed, so the UI shows it; with `repair` it
quarantines what is damaged or orphaned, sweeps stale temporary files and the stages recompute the rest.
"""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog
from physflow.data_catalog.verify import KINDS, VerifyReport, verify_catalog
from physflow.flows.ingest import DEFAULT_CATALOG
from physflow.flows.prefect_flow import flow


class VerifyParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder.")
    repair: bool = Field(False, description="Quarantine damaged and orphaned files, delete stale temp files.")
    grace_s: float = Field(3600.0, ge=0, le=30 * 86400,
                           description="Orphans and temp files younger than this many seconds are left alone "
                           "(a run in progress writes them).")


class CatalogDamagedError(RuntimeError):
    """The catalog holds missing, damaged or orphaned files and repair was not asked for."""


def summary_line(report: VerifyReport) -> str:
    counts = ", ".join(f"{report.count(k)} {k.replace('_', ' ')}" for k in KINDS)
    return f"{report.artifacts} artifacts and {report.blobs} blobs checked: {counts}"


def markdown(report: VerifyReport) -> str:
    lines = ["# Catalog verify", "", summary_line(report) + (" (repaired)" if report.repaired else ""), ""]
    if report.findings:
        lines += ["| kind | path | reason |", "|---|---|---|"]
        lines += [f"| {f.kind} | `{f.path}` | {f.reason} |" for f in report.findings[:500]]
    return "\n".join(lines)


@flow(name="verify-catalog", log_prints=True)
def verify_flow(params: VerifyParams) -> dict[str, Any]:
    report = verify_catalog(Catalog(params.catalog), repair=params.repair, grace_s=params.grace_s)
    create_markdown_artifact(markdown=markdown(report), key="catalog-verify", description="catalog verify")
    print(summary_line(report))
    if report.findings and not report.repaired:
        raise CatalogDamagedError(f"{summary_line(report)}; run with repair to quarantine and recompute")
    return {"artifacts": report.artifacts, "blobs": report.blobs, "repaired": report.repaired,
            **{k: report.count(k) for k in KINDS}}
