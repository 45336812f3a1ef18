"""The README's cluster recipe: a Dask scheduler and two worker processes started on their own (as on other
machines), the curate flow sent to them by address, the catalog on a folder every process shares.

The flow process decodes no video: every shard runs on the workers, which write artifacts and blobs into the
shared catalog, register them under its file lock and report their task runs to this test's Prefect API. A
second run finds everything Cached, its catalog sealed.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest

from physflow.data_catalog import Catalog
from physflow.flows.curate import CurateParams, curate_flow
from physflow.flows.pipeline import DEMO_FILTER
from physflow.stages.common import video_io
from tests.flows.dask_processes import DASK, cold_and_warm, dask_cluster

pytestmark = pytest.mark.usefixtures("prefect_api")


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
    params = CurateParams(inputs=[str(inbox)], catalog=str(shared / "catalog"), shard_size=1, filter=DEMO_FILTER)
    opened = video_io.OPEN_COUNT
    with dask_cluster(tmp_path, env) as address:
        cold, warm = cold_and_warm(address, curate_flow, params)
        after_flow, after_each = _profiling(address)
    assert video_io.OPEN_COUNT == opened, "a video was decoded in the flow process, not on the workers"

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
    # Workers started without the recipe's profiler setting: on Python 3.11 a stage task stops the profiler of the
    # worker it runs on (the flow's on at least one), and its first step does so on each worker
    assert len(after_flow) == len(after_each) == 2
    if sys.version_info < (3, 12):
        assert not all(after_flow.values()) and not any(after_each.values())
    else:
        assert all(after_flow.values()) and all(after_each.values())


def _profiling(address: str) -> tuple[dict[str, bool], dict[str, bool]]:
    """Whether each worker still runs Dask's profiler after the flow, then after a stage task's first step
    (`stages.base.stop_dask_profiler`) ran on every worker."""
    from distributed import Client

    from physflow.stages.base import stop_dask_profiler

    def profiling(dask_worker: object) -> bool:
        return "profile" in dask_worker.periodic_callbacks  # type: ignore[attr-defined]

    with Client(address) as client:
        after_flow = client.run(profiling)
        for worker in client.scheduler_info()["workers"]:
            client.submit(stop_dask_profiler, workers=[worker], pure=False).result(timeout=60)
        return after_flow, client.run(profiling)
