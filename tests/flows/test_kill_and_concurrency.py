"""A run killed with SIGKILL loses nothing; two processes writing one catalog both finish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from data_catalog import Catalog

ROOT = Path(__file__).resolve().parents[2]

# Runs `physflow ingest`, but blocks forever just before the artifact's Parquet file is renamed into
# place (after the temporary file is fully written): the worst moment to die.
_DRIVER = textwrap.dedent(
    """
    import os, sys, time
    import data_catalog.storage as storage
    real_replace = os.replace
    def slow_replace(src, dst):
        if os.environ.get("PHYSFLOW_TEST_HANG") and dst.endswith(".parquet") and "/artifacts/ingest/" in dst:
            open(os.environ["PHYSFLOW_TEST_HANG"], "w").write(src)
            time.sleep(3600)
        real_replace(src, dst)
    storage.os = type(os)("os_proxy")
    storage.os.__dict__.update(os.__dict__)
    storage.os.replace = slow_replace
    from flows.cli import app
    app(sys.argv[1:])
    """
)


def _physflow(args: list[str], tmp: Path, env_extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    driver = tmp / "driver.py"
    driver.write_text(_DRIVER)
    env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect-home"), "PYTHONPATH": str(ROOT), **(env_extra or {})}
    env.pop("PREFECT_API_URL", None)
    return subprocess.Popen([sys.executable, str(driver), *args], env=env, cwd=tmp, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.timeout(300)
def test_sigkill_mid_write_leaves_nothing_partial(demo_videos, tmp_path):
    catalog = tmp_path / "catalog"
    marker = tmp_path / "hung"
    folder = str(demo_videos[0].parent)
    proc = _physflow(["--catalog", str(catalog), "ingest", folder], tmp_path, {"PHYSFLOW_TEST_HANG": str(marker)})
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the run never reached the artifact write"
        time.sleep(0.1)
    tmp_file = Path(marker.read_text())
    assert tmp_file.exists()  # a complete temporary file, not yet renamed
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

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
