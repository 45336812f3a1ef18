"""`physflow pipeline` killed with SIGKILL mid-stage, then run again: complete, nothing lost, duplicated or partial,
and the shards finished before the kill show as Cached."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from data_catalog import Catalog
from tests.flows.kill_driver import physflow_process as _physflow


@pytest.mark.timeout(420)
def test_pipeline_killed_mid_stage_resumes_with_finished_shards_cached(demo_videos, tmp_path):
    catalog = tmp_path / "catalog"
    marker = tmp_path / "hung"
    args = ["--catalog", str(catalog), "pipeline", str(demo_videos[0].parent), "--shard-size", "1", "--previews", "0"]
    proc = _physflow(args, tmp_path, {"PHYSFLOW_TEST_HANG": str(marker), "PHYSFLOW_TEST_PASS": "2"})
    cat = Catalog(catalog)
    deadline = time.monotonic() + 240
    while not (marker.exists() and len(cat.artifacts.manifests()) == 2):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the run never reached the third artifact write"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    hung = [Path(p) for p in marker.read_text().split()]
    assert hung and all(p.exists() for p in hung)  # complete temporary files that were never renamed
    assert len(cat.artifacts.manifests()) == 2  # the kill landed mid-stage: 2 of 4 shards done

    again = _physflow(args, tmp_path)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    # The shards finished before the kill are Cached; the two cut off are computed now.
    assert re.search(r"ingest\s*│\s*Completed\s*│\s*ingest\s*│\s*Cached: 2, Completed: 2\s*│\s*4\s*│\s*4", out), out

    manifests = cat.artifacts.manifests()
    assert len(manifests) == 4
    registered = cat.query("SELECT key FROM artifacts").column("key").to_pylist()
    assert sorted(registered) == sorted(m.key for m in manifests)  # none lost, none duplicated
    parquet = sorted(p.name for p in (catalog / "artifacts" / "ingest").glob("*.parquet"))
    assert parquet == sorted(f"{m.key}.parquet" for m in manifests)  # no data file without its manifest
    assert cat.table("videos").num_rows == 4
    assert cat.query("SELECT count(DISTINCT video_id) AS n FROM videos").to_pylist() == [{"n": 4}]
