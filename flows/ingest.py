"""ingest-videos: probe video files into the `videos` table."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog
from physflow.data_catalog.fingerprints import FINGERPRINTS_FILE, FingerprintCache
from physflow.flows.env import DEFAULT_CATALOG
from physflow.flows.inputs import STILL_WRITTEN, Skipped, content_sha256, resolve_inputs, settled
from physflow.flows.prefect_flow import flow
from physflow.flows.runtime import ArtifactRef, StageJob, artifact_key, meanwhile, plan, run_jobs
from physflow.stages.common.video_io import DEFAULT_FRAME_RATE
from physflow.stages.ingest import IngestConfig, IngestItem, IngestStage

SETTLE_HELP = ("Seconds a local file must have gone unmodified to be taken (0: any file): a watched inbox that "
               "files arrive in by slow or pausing copies sets it to more than the longest pause; younger files are "
               "listed as skipped and left for a later run.")


class IngestParams(BaseModel):
    """Parameters of the ingest flow (validated by Prefect, also in the UI's run form)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: list[str] = Field(..., min_length=1, description="Folders, globs, text files listing paths, files, or object-store URIs (s3://bucket/prefix?...).")
    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI.")
    shard_size: int = Field(64, ge=1, le=100_000, description="Average videos per cached shard.")
    frames_fps: float = Field(DEFAULT_FRAME_RATE, gt=0.0, le=1000.0,
                              description="Frames per second of a folder of numbered image frames (one video).")
    settle_s: float = Field(0.0, ge=0.0, le=86_400.0, description=SETTLE_HELP)
    ingest: IngestConfig = Field(default_factory=IngestConfig)


SKIPPED_KEY = "ingest-skipped-files"


def report_inputs(n_videos: int, skipped: list[Skipped]) -> None:
    """Every skipped file with its reason, in the run's log and as a markdown artifact."""
    for entry in skipped:
        print(f"skipped {entry.path}: {entry.reason}")
    lines = ["# ingest inputs", "", f"{n_videos} video(s) to ingest, {len(skipped)} file(s) skipped.", ""]
    if skipped:
        lines += ["| skipped file | reason |", "|---|---|"]
        lines += [f"| `{e.path}` | {e.reason} |" for e in skipped]
    create_markdown_artifact(key=artifact_key(SKIPPED_KEY), markdown="\n".join(lines) + "\n",
                             description="files found in the inputs and why each skipped one was skipped", _sync=True)


@contextlib.contextmanager
def found_inputs(params: IngestParams, catalog: Catalog) -> Iterator[list[IngestItem]]:
    """The inputs' videos, each with its content's sha256; while the body runs (their probing), the skipped files
    are reported to Prefect and a new catalog's registry is made, on threads of their own. A file that changed
    while it was hashed (a copy into the inbox still running) is skipped, with why: ingested, its row would
    describe part of the file under a key no later run meets, and its clips end where the copy had got to."""
    files, skipped = resolve_inputs(params.inputs)
    if params.settle_s:
        files, young = settled(files, params.settle_s)
        skipped = [*skipped, *young]
    fingerprints = FingerprintCache(catalog.root.local_path(FINGERPRINTS_FILE))
    with meanwhile(catalog.create):
        shas = content_sha256(files, fingerprints, params.frames_fps)
        if fingerprints.moving:
            skipped = [*skipped, *(Skipped(f, STILL_WRITTEN) for f in files if f in fingerprints.moving)]
            files, shas = [f for f in files if f not in fingerprints.moving], \
                [s for f, s in zip(files, shas, strict=True) if f not in fingerprints.moving]
        with meanwhile(report_inputs, len(files), skipped):
            yield [IngestItem(path=f, sha256=s, frame_rate=params.frames_fps)
                   for f, s in zip(files, shas, strict=True)]


def ingest_jobs(params: IngestParams, catalog: Catalog, items: list[IngestItem]) -> list[StageJob]:
    """The ingest shards of `items` (grouped by content)."""
    return plan(IngestStage, params.ingest, items, keys=[item.sha256 for item in items], catalog=catalog,
                shard_size=params.shard_size)


@flow(name="ingest-videos", log_prints=True)
def ingest_flow(params: IngestParams) -> list[ArtifactRef]:
    catalog = Catalog(params.catalog)
    with found_inputs(params, catalog) as items:
        return run_jobs(ingest_jobs(params, catalog, items))
