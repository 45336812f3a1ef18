"""A run killed with SIGKILL loses nothing; two processes writing one catalog both finish."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from physflow.data_catalog import Catalog
from tests.flows.kill_driver import kill_leftovers
from tests.flows.kill_driver import physflow_process as _physflow


@pytest.mark.timeout(300)
def test_sigkill_mid_write_leaves_nothing_partial(demo_videos, tmp_path):
    catalog = tmp_path / "catalog"
    marker = tmp_path / "hung"
    folder = str(demo_videos[0].parent)
    proc = _physflow(["--catalog", str(catalog), "ingest", folder], tmp_path,
                     {"PHYSFLOW_TEST_HANG": str(marker), "PHYSFLOW_TEST_MATCH": "/artifacts/ingest/"})
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the run never reached the artifact write"
        time.sleep(0.1)
    tmp_file = Path(marker.read_text().split()[0])
    assert tmp_file.exists()  # a complete temporary file, not yet renamed
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    kill_leftovers(proc)

    cat = Catalog(catalog)
    assert cat.artifacts.manifests() == []
    assert cat.table("videos").num_rows == 0  # nothing partial is visible

    again = _physflow(["--catalog", str(catalog), "ingest", folder], tmp_path)
    out, _ = again.communicate(timeout=240)
    assert again.returncode == 0, out
    assert cat.table("videos").num_rows == 4
    assert len(cat.artifacts.manifests()) == cat.query("SELECT count(*) AS n FROM artifacts").column("n")[0].as_py()


@pytest.mark.timeout(300)
def test_two_writers_on_one_catalog(real_videos, demo_videos, tmp_path):
    catalog = tmp_path / "catalog"
    a = _physflow(["--catalog", str(catalog), "ingest", str(real_videos), "--shard-size", "2"], tmp_path / "a")
    b = _physflow(["--catalog", str(catalog), "ingest", str(demo_videos[0].parent), "--shard-size", "1"],
                  tmp_path / "b")
    out_a, _ = a.communicate(timeout=240)
    out_b, _ = b.communicate(timeout=240)
    assert a.returncode == 0, out_a
    assert b.returncode == 0, out_b
    cat = Catalog(catalog)
    registered = cat.query("SELECT key FROM artifacts").column("key").to_pylist()
    assert sorted(registered) == sorted(m.key for m in cat.artifacts.manifests())
    assert cat.table("videos").num_rows == 14 + 4
    assert cat.query("SELECT count(DISTINCT video_id) AS n FROM videos").to_pylist() == [{"n": 18}]
