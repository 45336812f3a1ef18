"""The README's cluster recipe: a Dask scheduler and two worker processes started on their own (as on other
machines), the curate flow sent to them by address, the catalog on a folder every process shares.

The flow process decodes no video: every shard runs on the workers, which write artifacts and blobs into the
shared catalog, register them under its file lock and report their task runs to this test's Prefect API. A
second run finds everything Cached, its catalog sealed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from physflow.data_catalog import Catalog
from physflow.flows.curate import CurateParams, curate_flow
from physflow.flows.pipeline import DEMO_FILTER
from physflow.flows.runtime import RunnerSpec, task_runner, with_runner
from physflow.stages.common import video_io

pytestmark = pytest.mark.usefixtures("prefect_api")
DASK = Path(sys.executable).with_name("dask")


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:  # its own session: stopping it stops the processes it started
        return subprocess.Popen([str(DASK), *args], stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _address(scheduler_file: Path, scheduler: subprocess.Popen[bytes], timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and scheduler.poll() is None:
        if scheduler_file.exists():
            try:
                return str(json.loads(scheduler_file.read_text())["address"])
            except (ValueError, KeyError):
                pass  # being written
        time.sleep(0.2)
    raise AssertionError(f"the Dask scheduler did not start (exit {scheduler.poll()})")


def _wait_for_workers(address: str, n: int, timeout_s: float = 120) -> None:
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(n, timeout=timeout_s)


@pytest.mark.timeout(300)
@pytest.mark.skipif(not DASK.exists(), reason="the dask command line (distributed) is not installed")
def test_curate_on_an_existing_cluster_with_a_shared_catalog(demo_videos, tmp_path):
    shared = tmp_path / "shared"  # stands for the mount every machine has at the same path
    inbox = shared / "inbox"
    inbox.mkdir(parents=True)
    for video in demo_videos:
        shutil.copy(video, inbox / video.name)
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}  # the test harness's API
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = _start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                        "--scheduler-file", str(scheduler_file)], tmp_path / "scheduler.log", env)
    workers = None
    try:
        address = _address(scheduler_file, scheduler)
        workers = _start(["worker", address, "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1",
                          "--no-dashboard"], tmp_path / "workers.log", env)
        _wait_for_workers(address, 2)
        params = CurateParams(inputs=[str(inbox)], catalog=str(shared / "catalog"), shard_size=1,
                              filter=DEMO_FILTER)
        opened = video_io.OPEN_COUNT
        with task_runner(RunnerSpec(kind="dask", address=address)) as runner:
            cold = with_runner(curate_flow, runner)(params)
            warm = with_runner(curate_flow, runner)(params)
        assert video_io.OPEN_COUNT == opened, "a video was decoded in the flow process, not on the workers"
    finally:
        for proc in (workers, scheduler):
            if proc is not None:
                _stop(proc)

    stages = Counter(r.stage for r in cold.refs)
    assert stages["analyze"] >= 2 and stages["clip_export"] >= 1
    catalog = Catalog(shared / "catalog")
    registered = {r["key"] for r in catalog.query("SELECT key FROM artifacts").to_pylist()}
    assert {r.key for r in cold.refs} <= registered
    assert [r.key for r in warm.refs] == [r.key for r in cold.refs], "the warm run computed nothing new"
    clips = catalog.query("SELECT clip_uri FROM clips WHERE clip_uri IS NOT NULL").to_pylist()
    assert clips and all(Path(c["clip_uri"]).is_file() for c in clips)
    assert all(Path(c["clip_uri"]).is_relative_to(shared / "catalog") for c in clips)
    assert catalog.trusted_keys() == registered, "the catalog the workers wrote is sealed after the run"
