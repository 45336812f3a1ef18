"""train-physics-prior: the catalog's detections and body fits -> learned temporal priors (`physics_priors`).

The small training flow of generation's learned prior. It reads every annotated track in the catalog, trains
one denoiser for object trajectories and one for body-pose sequences, stores them as blobs and registers a
row per kind. The run is cached by the annotation artifacts it read and its config: re-running without new
annotations does no work. `newest_priors` is what the generate flow loads.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog
from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.keys import canonical_json, sha256_text
from physflow.data_catalog.schemas import BODY_FITS, DETECTIONS
from physflow.flows.env import DEFAULT_CATALOG
from physflow.flows.prefect_flow import flow
from physflow.flows.results import FlowResult
from physflow.flows.runtime import plan, run_jobs
from physflow.flows.weights import resolve_weights
from physflow.models.registry import WeightsRegistry
from physflow.stages.train_prior import AnnotationSet, TrainPriorConfig, TrainPriorStage
from physflow.stages.train_prior.stage import ClipInfo

CLIP_INFO_SQL = """
SELECT c.clip_id, c.end_frame - c.start_frame AS n_frames, v.width, v.height, v.fps
FROM clips c JOIN videos v USING (video_id)
WHERE c.error IS NULL AND v.error IS NULL AND v.fps > 0
"""


class TrainPriorParams(BaseModel):
    """Parameters of the learned-prior training flow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI.")
    weights_config: str | None = Field(None, description="physflow.toml naming the SMPL file the fits were made "
                                       "with (default: ./physflow.toml).")
    use_weights: bool = Field(True, description="False: the procedural body even where an SMPL file is registered.")
    prior: TrainPriorConfig = Field(default_factory=TrainPriorConfig)


def annotation_set(catalog: Catalog) -> tuple[AnnotationSet, str]:
    """Every detection and body fit of the catalog (no error rows), each clip's size and fps, and the content
    key of what was read (the annotation artifacts behind the two tables)."""
    detections = catalog.query(f"SELECT * FROM {DETECTIONS} WHERE error IS NULL ORDER BY clip_id, track_id, frame")
    fits = catalog.query(f"SELECT * FROM {BODY_FITS} WHERE error IS NULL ORDER BY clip_id, track_id, frame")
    if detections.num_rows + fits.num_rows == 0:
        raise ValueError(f"catalog {catalog.root.uri} has no detections or body fits to learn motion from: "
                         "run `physflow annotate` first")
    clips = {r["clip_id"]: ClipInfo(r["n_frames"], r["width"], r["height"], float(r["fps"]))
             for r in catalog.query(CLIP_INFO_SQL).to_pylist()}
    arts = catalog.query("SELECT stage, key FROM current_artifacts WHERE table_name IN (?, ?) ORDER BY stage, key",
                         [DETECTIONS, BODY_FITS]).to_pylist()
    key = sha256_text(canonical_json([[a["stage"], a["key"]] for a in arts]))
    return AnnotationSet(detections, fits, clips, str(catalog.root.uri)), key


def resolve_config(params: TrainPriorParams) -> TrainPriorConfig:
    """The config with the SMPL file resolved from the registry, as the annotate flow resolves it (only that
    entry: the detection and pose weights play no part here)."""
    registry = WeightsRegistry.load(params.weights_config) if params.use_weights else None
    config = resolve_weights(params.prior, registry, params.use_weights)
    return TrainPriorConfig.model_validate(config.model_dump() | {"body_model": config.body_model})


@flow(name="train-physics-prior", log_prints=True)
def train_prior_flow(params: TrainPriorParams) -> FlowResult:
    catalog = Catalog(params.catalog)
    config = resolve_config(params)
    data, key = annotation_set(catalog)
    jobs = plan(TrainPriorStage, config, [data], keys=[key], catalog=catalog, shard_size=1)
    return FlowResult(refs=run_jobs(jobs))


def newest_priors(catalog: Catalog) -> dict[str, dict[str, Any]]:
    """kind -> row of the most recently trained prior of each kind that has weights ({} when none)."""
    newest = catalog.query("SELECT path FROM current_artifacts WHERE stage = ? ORDER BY created_at DESC LIMIT 1",
                           [TrainPriorStage.name]).to_pylist()
    if not newest:
        return {}
    rows = catalog.query("SELECT * FROM read_parquet(?) WHERE error IS NULL AND uri IS NOT NULL",
                         [catalog.artifact_file(newest[0]["path"])]).to_pylist()
    blobs = BlobStore(catalog.root)
    return {r["kind"]: blobs.resolve_row(r) for r in rows}
