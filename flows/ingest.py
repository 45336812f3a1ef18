"""ingest-videos: probe video files into the `videos` table."""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog
from physflow.data_catalog.fingerprints import FINGERPRINTS_FILE, FingerprintCache
from physflow.flows.inputs import resolve_inputs
from physflow.flows.runtime import ArtifactRef, plan, run_jobs
from physflow.stages.ingest import IngestConfig, IngestItem, IngestStage

DEFAULT_CATALOG = "./physflow-data"


class IngestParams(BaseModel):
    """Parameters of the ingest flow (validated by Prefect, also in the UI's run form)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: list[str] = Field(..., min_length=1, description="Folders, globs, text files listing paths, or files.")
    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI.")
    shard_size: int = Field(64, ge=1, le=100_000, description="Average videos per cached shard.")
    ingest: IngestConfig = Field(default_factory=IngestConfig)


@flow(name="ingest-videos", log_prints=True)
def ingest_flow(params: IngestParams) -> list[ArtifactRef]:
    catalog = Catalog(params.catalog)
    files, skipped = resolve_inputs(params.inputs)
    if skipped:
        print(f"skipped {skipped} non-video files")
    shas = FingerprintCache(Path(catalog.root.base) / FINGERPRINTS_FILE).many(files)
    items = [IngestItem(path=f, sha256=s) for f, s in zip(files, shas, strict=True)]
    jobs = plan(IngestStage, params.ingest, items, keys=shas, catalog=catalog, shard_size=params.shard_size)
    return run_jobs(jobs)
