"""Prefect glue: a stage shard as a Prefect task whose cache key is the artifact key (DESIGN §5).

`plan` turns (stage, config, shards of items with content keys) into `StageJob`s; `run_jobs` submits
them as task runs. A job whose artifact is complete shows as Cached in the Prefect UI and runs no
stage code; otherwise the task runs the stage, writes the artifact (temp file, rename, manifest last),
registers it in the catalog and publishes a table artifact with the stage's counters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.context import TaskRunContext
from prefect.futures import wait
from pydantic import BaseModel, ConfigDict

from data_catalog import Catalog, cache_key
from data_catalog.keys import shard_id
from data_catalog.sharding import content_shards
from flows.progress import reporter
from stages.base import Stage, StageConfig


class ArtifactRef(BaseModel):
    """What a stage task returns: enough to find, trust and chain its artifact."""

    stage: str
    key: str
    table: str
    shard: str
    rows: int
    content_sha256: str
    stats: dict[str, Any]


class StageJob(BaseModel):
    """One stage over one shard: everything the task needs, and the key it is cached under."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    stage_cls: type[Stage]  # type: ignore[type-arg]
    config: StageConfig
    inputs: Any
    input_keys: list[str]
    shard: str
    key: str
    catalog_root: str

    @property
    def label(self) -> str:
        return f"{self.stage_cls.name} {self.shard[:8]}"


def plan(
    stage_cls: type[Stage[Any, Any]],
    config: StageConfig,
    items: Sequence[Any],
    *,
    keys: Sequence[str],
    catalog: Catalog,
    shard_size: int,
) -> list[StageJob]:
    """Group items into content-defined shards and compute each shard's artifact key."""
    weights = stage_cls(config).weights_sha256()
    jobs = []
    for shard_items in content_shards(list(zip(items, keys, strict=True)), list(keys), shard_size):
        shard_keys = [k for _, k in shard_items]
        jobs.append(
            StageJob(
                stage_cls=stage_cls, config=config, inputs=[it for it, _ in shard_items], input_keys=shard_keys,
                shard=shard_id(stage_cls.name, shard_keys),
                key=cache_key(stage_cls.name, stage_cls.VERSION, config, shard_keys, weights),
                catalog_root=str(catalog.root.uri),
            )
        )
    return jobs


def _job_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    job: StageJob = parameters["job"]
    return f"{job.stage_cls.name}-{job.key}"


@task(persist_result=True, cache_key_fn=_job_cache_key)
def run_stage_job(job: StageJob) -> ArtifactRef:
    catalog = Catalog(job.catalog_root)
    store = catalog.artifacts
    name = job.stage_cls.name
    if store.exists(name, job.key):  # complete from an earlier run whose Prefect result was lost
        manifest = store.manifest(name, job.key)
    else:
        stage = job.stage_cls(job.config)
        table = stage.run(job.inputs, progress=reporter(job.label))
        stats = stage.stats.as_dict()
        manifest = store.write(
            stage=name, version=job.stage_cls.VERSION, key=job.key, table_name=job.stage_cls.table,
            table=table, shard=job.shard, config=job.config.model_dump(mode="json"), inputs=job.input_keys,
            weights=stage.weights_sha256(), stats=stats, flow_run_id=_flow_run_id(),
        )
        _publish_stats(name, job.shard, stats)
    catalog.register(manifest)
    return ArtifactRef(
        stage=name, key=manifest.key, table=manifest.table, shard=manifest.shard, rows=manifest.rows,
        content_sha256=manifest.content_sha256, stats=manifest.stats,
    )


def run_jobs(jobs: Sequence[StageJob]) -> list[ArtifactRef]:
    """Submit every job as a task run (on the flow's task runner) and wait for all of them.

    A job whose artifact is already complete is submitted with its Prefect cache as is, so the run
    shows as Cached; a job whose artifact is missing refreshes the cache, so a stale Prefect result
    can never stand in for data that is gone.
    """
    futures = []
    for job in jobs:
        catalog = Catalog(job.catalog_root)
        complete = catalog.artifacts.exists(job.stage_cls.name, job.key)
        runner = run_stage_job.with_options(
            name=job.stage_cls.name,
            task_run_name=job.label.replace(" ", "-"),
            refresh_cache=not complete,
        )
        futures.append(runner.submit(job=job))
    wait(futures)
    return [f.result() for f in futures]


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    run_id = flow_run.id
    return str(run_id) if run_id else None


def _publish_stats(stage: str, shard: str, stats: dict[str, Any]) -> None:
    rows = [
        {"measure": "items", "value": stats["items"]},
        {"measure": "rows in", "value": stats["rows_in"]},
        {"measure": "rows out", "value": stats["rows_out"]},
        {"measure": "seconds", "value": stats["seconds"]},
        *({"measure": f"error: {k}", "value": v} for k, v in stats["errors"].items()),
        *({"measure": f"rejected: {k}", "value": v} for k, v in stats["rejected"].items()),
    ]
    create_table_artifact(
        key=f"{stage}-stats".replace("_", "-"), table=rows,
        description=f"{stage} shard {shard[:8]} at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC",
    )


def summarize(refs: Sequence[ArtifactRef]) -> dict[str, Any]:
    """Totals over a stage's shards: rows, errors and rejects by reason, seconds."""
    total: dict[str, Any] = {"shards": len(refs), "rows": 0, "errors": {}, "rejected": {}, "seconds": 0.0}
    for ref in refs:
        total["rows"] += ref.rows
        total["seconds"] += ref.stats.get("seconds", 0.0)
        for kind in ("errors", "rejected"):
            for reason, n in ref.stats.get(kind, {}).items():
                total[kind][reason] = total[kind].get(reason, 0) + n
    total["seconds"] = round(total["seconds"], 3)
    return total
