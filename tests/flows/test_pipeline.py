"""The pipeline flow: nested flow runs, stage states from the API, a markdown summary, progress that moves."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any

import httpx
import pytest
from prefect import flow
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
from prefect.settings import PREFECT_API_URL
from pydantic import ValidationError

from physflow.data_catalog import Catalog
from physflow.data_catalog.schemas import CLIPS
from physflow.flows import runtime
from physflow.flows.pipeline import DEMO_FILTER, SUMMARY_KEY, PipelineParams, pipeline_flow
from physflow.flows.runtime import RunnerSpec, plan, run_jobs, task_runner
from physflow.stages.base import Stage, StageConfig

pytestmark = pytest.mark.usefixtures("prefect_api")


def _artifacts(**filters: Any) -> list[dict[str, Any]]:
    """Artifacts matching `filters` (the REST body of /artifacts/filter), newest first."""
    url = PREFECT_API_URL.value()
    body = {"artifacts": json.loads(ArtifactFilter(**filters).model_dump_json(exclude_unset=True)),
            "sort": "CREATED_DESC", "limit": 200}
    response = httpx.post(f"{url}/artifacts/filter", json=body, timeout=30)
    response.raise_for_status()
    return list(response.json())


@pytest.mark.timeout(240)
def test_pipeline_chains_flows_and_summarises(demo_videos, catalog_root):
    params = PipelineParams(catalog=str(catalog_root), previews=2,
                            curate={"inputs": [str(demo_videos[0].parent)], "shard_size": 1, "filter": DEMO_FILTER})
    state = pipeline_flow(params, return_state=True)
    report = state.result()
    curate, annotate, optical_flow, caption, physics = report.steps
    assert [(s.step, s.state) for s in report.steps] == [
        ("curate", "Completed"), ("annotate", "Completed"), ("optical_flow", "Completed"),
        ("caption", "Completed"), ("physics_context", "Completed")]
    # no sidecars: every kept clip gets a measured caption, and each caption one physics context
    assert caption.totals["caption"]["rows"] == 3 and physics.totals["physics_context"]["rows"] == 3
    assert annotate.task_states == {stage: {"Completed": annotate.totals[stage]["shards"]}
                                    for stage in ("detect", "pose", "body_fit", "part_masks")}
    # Task-run states per stage, read back from the Prefect API: one ingest shard (ingest's hold 8 times
    # shard_size), one analyze and export shard per readable video (export follows the analysis shards), the filter
    # over content-defined groups of analysis shards (how many follows from the shards' identities: 2 today), one
    # global dedup; the three kept clips' optical flow in content-defined shards (1 today), one task run per shard.
    assert curate.task_states == {"ingest": {"Completed": 1}, "analyze": {"Completed": 3}, "dedup": {"Completed": 1},
                                  "curate_filter": {"Completed": 2}, "clip_export": {"Completed": 3}}
    flow_shards = optical_flow.totals["optical_flow"]["shards"]
    assert optical_flow.task_states == {"optical_flow": {"Completed": flow_shards}}
    assert curate.totals["ingest"]["rows"] == 4 and curate.totals["ingest"]["errors"] == {"open failed": 1}
    assert optical_flow.totals["optical_flow"]["rows"] == 3
    assert len(report.previews) == 2
    for path in report.previews:
        with open(path, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"

    run_id = state.state_details.flow_run_id
    (summary,) = _artifacts(flow_run_id=ArtifactFilterFlowRunId(any_=[str(run_id)]),
                            key=ArtifactFilterKey(any_=[SUMMARY_KEY]))
    assert summary["type"] == "markdown"
    assert "| curate | Completed | ingest | Completed: 1 | 1 | 4 | open failed: 1 |" in summary["data"]
    assert (f"| optical_flow | Completed | optical_flow | Completed: {flow_shards} | {flow_shards} | 3 | none |"
            in summary["data"])
    assert all(p in summary["data"] for p in report.previews)
    assert "| videos | 4 | 1 |" in summary["data"]  # 4 rows in one artifact (one ingest shard)

    warm = pipeline_flow(params)
    assert [set(states) for step in warm.steps for states in step.task_states.values()] == [{"Cached"}] * 12
    assert warm.previews == report.previews


def test_params_fail_before_work_naming_the_value(catalog_root):
    with pytest.raises(ValidationError, match="runner"):
        PipelineParams(curate={"inputs": ["x"]}, runner={"kind": "spark"})
    with pytest.raises(ValidationError, match="tcp://h:1"):
        PipelineParams(curate={"inputs": ["x"]}, runner={"kind": "default", "address": "tcp://h:1"})
    with pytest.raises(ValidationError, match="shard_size"):
        PipelineParams(curate={"inputs": ["x"], "shard_size": 0})
    with pytest.raises(ValidationError, match="inputs"):
        PipelineParams(curate={"inputs": []})


def test_ray_runner_needs_prefect_ray():
    try:
        import prefect_ray  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("prefect-ray is installed here; the missing-package message cannot be shown")
    with pytest.raises(RuntimeError, match="prefect-ray"), task_runner(RunnerSpec(kind="ray")):
        pass


class SlowConfig(StageConfig):
    seconds_per_item: float = 0.15


class SlowStage(Stage[SlowConfig, int]):
    """A stage whose items take a while, so its progress can be watched."""

    name, VERSION, Config, table = "slow", 1, SlowConfig, CLIPS

    def items(self, inputs):
        return list(inputs)

    def process(self, item):
        time.sleep(self.config.seconds_per_item)
        yield {"clip_id": f"v:{item}-{item + 1}", "video_id": "v", "start_frame": item, "end_frame": item + 1}

    def error_rows(self, item, reason):
        return [{"clip_id": f"v:{item}", "error": reason}]


@flow(name="slow-stage")
def _slow_flow(root: str) -> None:
    jobs = plan(SlowStage, SlowConfig(), list(range(8)), keys=["0" * 63 + "1"] * 1 + ["a" * 64] * 7,
                catalog=Catalog(root), shard_size=100)
    run_jobs(jobs)


def _watched(key: str, run: Any) -> tuple[Any, list[float], list[dict[str, Any]]]:
    """What `run()` returned, the values the progress artifact `key` took while it ran (polled every 50 ms), and
    the artifacts of that key afterwards."""
    seen: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for art in _artifacts(key=ArtifactFilterKey(any_=[key])):
                if not seen or seen[-1] != art["data"]:
                    seen.append(art["data"])
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        out = run()
    finally:
        done.set()
        watcher.join()
    return out, seen, _artifacts(key=ArtifactFilterKey(any_=[key]))


@pytest.mark.timeout(120)
def test_progress_artifact_moves_while_the_stage_runs(catalog_root, monkeypatch):
    monkeypatch.setattr(runtime, "PROGRESS_INTERVAL_S", 0.0)
    _, seen, final = _watched("slow-progress", lambda: _slow_flow(str(catalog_root)))
    assert [a["data"] for a in final] == [100.0]
    assert any(0 < v < 100 for v in seen), seen  # it moved while the stage ran
    assert seen == sorted(seen)


def _slow_server(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Progress published at every update, each of its API calls taking `seconds` longer."""
    monkeypatch.setattr(runtime, "PROGRESS_INTERVAL_S", 0.0)
    publish = runtime.StageProgress._publish

    def slow_server(self, percent, text):
        time.sleep(seconds)
        publish(self, percent, text)

    monkeypatch.setattr(runtime.StageProgress, "_publish", slow_server)


_STARTED: list[float] = []  # when each of TimedStage's items started


class TimedStage(SlowStage):
    name = "timed"

    def process(self, item):
        _STARTED.append(time.monotonic())
        yield from super().process(item)


@flow(name="timed-stage")
def _timed_flow(root: str) -> None:
    run_jobs(plan(TimedStage, SlowConfig(), list(range(8)), keys=["b" * 64] * 8, catalog=Catalog(root),
                  shard_size=100))


@pytest.mark.timeout(120)
def test_a_slow_server_holds_no_shard_for_its_progress_artifact(catalog_root, monkeypatch):
    """The progress artifact's API calls go out on a thread of their own: each taking a second here, the stage's
    items still follow one another at their own pace, and the artifact ends at 100 when the flow does."""
    _slow_server(monkeypatch, 1.0)
    _STARTED.clear()
    _timed_flow(str(catalog_root))
    assert len(_STARTED) == 8
    assert _STARTED[-1] - _STARTED[0] < 7 * 0.15 + 0.8  # waiting for each call would add about 7 s
    assert [a["data"] for a in _artifacts(key=ArtifactFilterKey(any_=["timed-progress"]))] == [100.0]


class OwnProgressStage(SlowStage):
    name = "own_progress"


@flow(name="own-progress")
def _own_progress_flow(root: str) -> list[float]:
    """One shard's task run as a cluster's worker runs it: no stage progress in its process, so one of its own.
    The artifact's values right when the task run has returned."""
    (job,) = plan(OwnProgressStage, SlowConfig(), list(range(4)), keys=["c" * 64] * 4, catalog=Catalog(root),
                  shard_size=100)
    assert job.progress not in runtime._PROGRESS
    runtime.run_stage_job(job)
    return [a["data"] for a in _artifacts(key=ArtifactFilterKey(any_=["own-progress-progress"]))]


@pytest.mark.timeout(120)
def test_a_shards_own_progress_artifact_shows_its_end_when_its_task_run_returns(catalog_root, monkeypatch):
    """Where a shard's task run keeps a progress artifact of its own (a cluster's worker), what its sender thread
    has left to send is sent before the task run returns, however slow the server."""
    _slow_server(monkeypatch, 0.5)
    assert _own_progress_flow(str(catalog_root)) == [100.0]


class SlowShardsStage(SlowStage):
    name = "slow_shards"


@flow(name="slow-shards")
def _slow_shards_flow(root: str) -> int:
    jobs = plan(SlowShardsStage, SlowConfig(seconds_per_item=0.2), list(range(12)),
                keys=[hashlib.sha256(b"%d" % i).hexdigest() for i in range(12)], catalog=Catalog(root), shard_size=4)
    assert len(jobs) > 1
    run_jobs(jobs)
    return len(jobs)


@pytest.mark.timeout(120)
def test_a_stage_of_several_shards_has_one_progress_artifact(catalog_root, monkeypatch):
    """Shards running side by side move one progress artifact for their stage, not one each."""
    monkeypatch.setattr(runtime, "PROGRESS_INTERVAL_S", 0.0)
    shards, seen, final = _watched("slow-shards-progress", lambda: _slow_shards_flow(str(catalog_root)))
    assert [a["data"] for a in final] == [100.0]
    assert final[0]["description"].startswith(f"slow_shards: {shards} of {shards} shards done, 12 items")
    assert any(0 < v < 100 for v in seen), seen
    assert seen == sorted(seen)
