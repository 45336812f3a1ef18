"""retrain-model: the scheduled retraining entry point; it trains only when the catalog has new clips.

"New" means kept clips (keep true, no error) that were not in the catalog when the last checkpoint
was made: their decisions artifact (`clip_decisions`, or `clips` for rows registered there) is newer than that checkpoint and is not in its data snapshot, and
their clip_id is not among the clips the checkpoint already saw. With nothing new the run ends in a
`Skipped` state (a Completed state type) and trains nothing. prefect.yaml schedules it with a cron,
a concurrency limit of 1 and new runs cancelled while one is running.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed
from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog
from physflow.data_catalog.blobs import sql_string
from physflow.data_catalog.schemas import CHECKPOINTS, CLIP_DECISIONS, CLIPS
from physflow.flows.env import DEFAULT_CATALOG
from physflow.flows.prefect_flow import flow
from physflow.flows.train import TrainParams, train_flow

SKIPPED = "Skipped"


class RetrainParams(BaseModel):
    """Parameters of the retrain flow (validated by Prefect, also in the UI's run form)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI.")
    min_new_clips: int = Field(1, ge=1, le=10_000_000, description="Train only when at least this many new kept clips.")
    train: TrainParams = Field(default_factory=TrainParams, description="The training run (its catalog is this one's).")


class RetrainDecision(BaseModel):
    """Whether to train, and why."""

    train: bool
    new_clips: int
    last_checkpoint: str | None
    reason: str


def _listing(catalog: Catalog, paths: list[str]) -> str:
    return "[" + ", ".join(sql_string(catalog.artifact_file(p)) for p in paths) + "]"


def new_clips_since_checkpoint(catalog: Catalog) -> tuple[int, str | None]:
    """Kept clips not seen by the newest good checkpoint, and that checkpoint's id (None: no checkpoint yet)."""
    last = catalog.query(
        f'SELECT checkpoint_id, created_at, data_snapshot FROM "{CHECKPOINTS}" WHERE error IS NULL '
        "ORDER BY created_at DESC LIMIT 1"
    ).to_pylist()
    arts = catalog.query(
        "SELECT key, path, created_at FROM artifacts WHERE table_name IN (?, ?) ORDER BY created_at",
        [CLIPS, CLIP_DECISIONS]
    ).to_pylist()
    current = {r["path"] for r in catalog.query(
        "SELECT path FROM current_artifacts WHERE table_name IN (?, ?)", [CLIPS, CLIP_DECISIONS]).to_pylist()}
    if last:
        snapshot, made = set(last[0]["data_snapshot"] or []), last[0]["created_at"]
        seen = [a["path"] for a in arts if a["key"] in snapshot or a["created_at"] <= made]
    else:
        seen = []
    fresh = [a["path"] for a in arts if a["path"] in current and a["path"] not in seen]
    if not fresh:
        return 0, last[0]["checkpoint_id"] if last else None
    sql = f"SELECT count(DISTINCT clip_id) AS n FROM read_parquet({_listing(catalog, fresh)}) WHERE keep AND error IS NULL"
    if seen:
        sql += f" AND clip_id NOT IN (SELECT clip_id FROM read_parquet({_listing(catalog, seen)}) WHERE clip_id IS NOT NULL)"
    n = catalog.query(sql).column("n")[0].as_py()
    return int(n), last[0]["checkpoint_id"] if last else None


@task(name="check-new-data")
def check_new_data(catalog: str, min_new_clips: int) -> RetrainDecision:
    n, last = new_clips_since_checkpoint(Catalog(catalog))
    since = f"since checkpoint {last}" if last else "(no checkpoint yet)"
    if n < min_new_clips:
        return RetrainDecision(train=False, new_clips=n, last_checkpoint=last,
                               reason=f"{n} new kept clips {since}, fewer than {min_new_clips}: nothing to train")
    return RetrainDecision(train=True, new_clips=n, last_checkpoint=last, reason=f"{n} new kept clips {since}")


def _train(params: RetrainParams, decision: RetrainDecision) -> Any:
    """Run the training flow (a nested flow run) on this catalog."""
    print(f"training: {decision.reason}")
    return train_flow(params.train.model_copy(update={"catalog": params.catalog}))


@flow(name="retrain-model", log_prints=True)
def retrain_flow(params: RetrainParams) -> Any:
    decision = check_new_data(params.catalog, params.min_new_clips)
    create_markdown_artifact(
        key="retrain-decision", description="why this retrain run trained or skipped",
        markdown=f"# retrain: {'train' if decision.train else 'skip'}\n\n{decision.reason}\n", _sync=True,
    )
    print(decision.reason)
    if not decision.train:
        return Completed(name=SKIPPED, message=decision.reason)
    return _train(params, decision)
