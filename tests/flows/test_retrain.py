"""Scheduled retraining: the deployment's schedule and concurrency on a local server; no new clips, no training."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pyarrow as pa
import pytest
from prefect.client.orchestration import get_client
from typer.testing import CliRunner

from physflow.data_catalog import Catalog, cache_key
from physflow.data_catalog.schemas import CHECKPOINTS, CLIPS, table_spec
from physflow.flows.cli import app
from physflow.flows.retrain import SKIPPED, RetrainParams, new_clips_since_checkpoint, retrain_flow

pytestmark = pytest.mark.usefixtures("prefect_api")


def _register(cat: Catalog, table: str, rows: list[dict[str, Any]], name: str) -> str:
    key = cache_key(name, 1, {}, [r.get("clip_id") or r.get("checkpoint_id") for r in rows], [])
    data = pa.Table.from_pylist(rows, schema=table_spec(table).schema)
    manifest = cat.artifacts.write(stage=name, version=1, key=key, table_name=table, table=data, shard=key[:32],
                                   config={}, inputs=[])
    cat.register(manifest)
    return key


def _clips(ids: list[str], keep: bool = True) -> list[dict[str, Any]]:
    return [{"clip_id": f"v:{i}", "video_id": "v", "keep": keep, "reject_reason": None if keep else "static"}
            for i in ids]


def _checkpoint(cat: Catalog, snapshot: list[str]) -> None:
    _register(cat, CHECKPOINTS, [{"checkpoint_id": f"ck{len(snapshot)}", "recipe": "revision", "step": 10,
                                  "data_snapshot": snapshot, "created_at": dt.datetime.now(dt.UTC)}], "train")


def test_new_clips_since_the_last_checkpoint(catalog_root):
    cat = Catalog(catalog_root)
    assert new_clips_since_checkpoint(cat) == (0, None)
    first = _register(cat, CLIPS, _clips(["0-10", "10-20", "20-30"]) + _clips(["30-40"], keep=False), "filter_a")
    assert new_clips_since_checkpoint(cat) == (3, None)  # no checkpoint yet: every kept clip is new
    _checkpoint(cat, [first])
    assert new_clips_since_checkpoint(cat) == (0, "ck1")
    # A later artifact: two new kept clips, one clip the checkpoint already saw, one rejected.
    _register(cat, CLIPS, _clips(["40-50", "50-60", "0-10"]) + _clips(["60-70"], keep=False), "filter_b")
    assert new_clips_since_checkpoint(cat) == (2, "ck1")


def test_retrain_without_new_data_is_skipped(catalog_root):
    cat = Catalog(catalog_root)
    _checkpoint(cat, [_register(cat, CLIPS, _clips(["0-10"]), "filter_a")])
    state = retrain_flow(RetrainParams(catalog=str(catalog_root)), return_state=True)
    assert state.is_completed() and state.name == SKIPPED
    assert "0 new kept clips since checkpoint ck1" in state.message
    # With new clips it goes on to the training flow, which refuses these clips (no exported clip files).
    _register(cat, CLIPS, _clips(["10-20", "20-30"]), "filter_b")
    state = retrain_flow(RetrainParams(catalog=str(catalog_root), min_new_clips=2), return_state=True)
    assert state.is_failed()
    with pytest.raises(ValueError, match="the training set is empty"):
        state.result()


DEPLOYMENTS = {"ingest": "ingest-videos", "curate": "curate-videos", "annotate": "annotate-clips",
               "optical-flow": "optical-flow",
               "pipeline": "physflow-pipeline", "retrain": "retrain-model", "generate": "generate-video",
               "train-prior": "train-physics-prior"}


def _read_deployments() -> tuple[dict[str, Any], dict[str, Any]]:
    async def read() -> tuple[dict[str, Any], dict[str, Any]]:
        async with get_client() as client:
            deps = {d: await client.read_deployment_by_name(f"{f}/{d}") for d, f in DEPLOYMENTS.items()}
            pools = {p: await client.read_work_pool(p) for p in ("physflow-cpu", "physflow-gpu")}
            return deps, pools

    return asyncio.run(read())


@pytest.mark.timeout(300)
def test_deploy_registers_schedules_pools_and_concurrency(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["deploy"])
    assert result.exit_code == 0, result.output
    deps, pools = _read_deployments()
    assert pools["physflow-cpu"].type == "process" and pools["physflow-gpu"].type == "process"
    assert pools["physflow-gpu"].concurrency_limit == 1

    retrain = deps["retrain"]
    assert retrain.entrypoint == "physflow.flows.retrain:retrain_flow"
    assert retrain.work_pool_name == "physflow-gpu"
    ((schedule),) = retrain.schedules
    assert schedule.active and schedule.schedule.cron == "0 3 * * *" and schedule.schedule.timezone == "UTC"
    assert retrain.global_concurrency_limit.limit == 1
    assert retrain.concurrency_options.collision_strategy.value == "CANCEL_NEW"
    assert retrain.parameter_openapi_schema["properties"]["params"]  # the nested model, for the UI's run form

    curate = deps["curate"]
    ((interval),) = curate.schedules
    assert interval.schedule.interval == dt.timedelta(minutes=10) and curate.work_pool_name == "physflow-cpu"
    assert {d.work_pool_name for d in deps.values() if d.name not in ("retrain", "generate")} == {"physflow-cpu"}
    assert deps["generate"].work_pool_name == "physflow-gpu"

    again = CliRunner().invoke(app, ["deploy", "retrain"])  # idempotent: pools exist, deployment updated
    assert again.exit_code == 0, again.output
