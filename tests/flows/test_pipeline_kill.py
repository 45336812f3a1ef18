"""`physflow pipeline` killed with SIGKILL mid-stage, then run again: complete, nothing lost, duplicated or partial,
and the shards finished before the kill show as Cached."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from physflow.data_catalog import Catalog
from tests.flows.kill_driver import kill_leftovers
from tests.flows.kill_driver import physflow_process as _physflow


@pytest.mark.timeout(420)
def test_pipeline_killed_mid_stage_resumes_with_finished_shards_cached(demo_videos, tmp_path):
    catalog = tmp_path / "catalog"
    marker = tmp_path / "hung"
    args = ["--catalog", str(catalog), "pipeline", str(demo_videos[0].parent), "--shard-size", "1", "--previews", "0"]
    # The ingest shard (ingest's hold 8 times --shard-size) and the first of 3 analysis shards get written; the
    # kill lands inside analysis.
    proc = _physflow(args, tmp_path, {"PHYSFLOW_TEST_HANG": str(marker), "PHYSFLOW_TEST_PASS": "2"})
    cat = Catalog(catalog)
    deadline = time.monotonic() + 240
    while not (marker.exists() and len(cat.artifacts.manifests()) == 2):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the run never reached the third artifact write"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    kill_leftovers(proc)
    hung = [Path(p) for p in marker.read_text().split()]
    assert hung and all(p.exists() for p in hung)  # complete temporary files that were never renamed
    done = {(m.stage, m.key) for m in cat.artifacts.manifests()}
    assert sorted(stage for stage, _ in done) == ["analyze", "ingest"]  # killed mid-analysis

    again = _physflow(args, tmp_path)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    # The stage finished before the kill is Cached, and so is the analysis shard done before it; the rest run now.
    assert re.search(r"curate\s*│\s*Completed\s*│\s*ingest\s*│\s*Cached: 1\s*│\s*1\s*│\s*4", out), out
    assert re.search(r"curate\s*│\s*Completed\s*│\s*analyze\s*│\s*Cached: 1, Completed: 2\s*│\s*3\s*│", out), out

    manifests = cat.artifacts.manifests()
    assert done <= {(m.stage, m.key) for m in manifests}
    # the filter decides content-defined groups of analysis shards: 2 here
    assert sorted(m.stage for m in manifests) == ["analyze"] * 3 + ["curate_filter"] * 2 + ["dedup", "ingest"]
    registered = cat.query("SELECT key FROM artifacts").column("key").to_pylist()
    assert sorted(registered) == sorted(m.key for m in manifests)  # none lost, none duplicated
    parquet = sorted(p.name for p in (catalog / "artifacts").rglob("*.parquet") if p.parent.name != "_empty")
    assert parquet == sorted(f"{m.key}.parquet" for m in manifests)  # no data file without its manifest
    assert cat.table("videos").num_rows == 4
    assert cat.query("SELECT count(DISTINCT video_id) AS n FROM videos").to_pylist() == [{"n": 4}]
