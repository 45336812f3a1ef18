"""Run `physflow` in a child process that can be made to block mid-write, for SIGKILL tests.

With PHYSFLOW_TEST_HANG set (a marker file), the child lets the first PHYSFLOW_TEST_PASS (default 0)
artifact Parquet renames matching PHYSFLOW_TEST_MATCH (default "/artifacts/") through and blocks every
later one after its temporary file is fully written (the worst moment to die), adding the temporary
file's path to the marker (a line each; the marker is replaced whole, so it never appears half written).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

DRIVER = textwrap.dedent(
    """
    import os, sys, threading, time
    import physflow.data_catalog.storage as storage
    real_replace, lock, passed = os.replace, threading.Lock(), [0]
    def gated_replace(src, dst):
        match = os.environ.get("PHYSFLOW_TEST_MATCH", "/artifacts/")
        if os.environ.get("PHYSFLOW_TEST_HANG") and dst.endswith(".parquet") and match in dst:
            with lock:
                passed[0] += 1
                hang = passed[0] > int(os.environ.get("PHYSFLOW_TEST_PASS", "0"))
            if hang:
                # The marker appears complete (renamed into place): a test that sees it and kills at once must
                # not find it empty, its line still in this process's buffer.
                marker = os.environ["PHYSFLOW_TEST_HANG"]
                with lock:
                    before = open(marker).read() if os.path.exists(marker) else ""
                    with open(marker + ".part", "w") as fh:
                        fh.write(before + src + "\\n")
                    real_replace(marker + ".part", marker)
                time.sleep(3600)
        real_replace(src, dst)
    storage.os = type(os)("os_proxy")
    storage.os.__dict__.update(os.__dict__)
    storage.os.replace = gated_replace
    if __name__ == "__main__":  # worker processes import this module too (multiprocessing)
        from physflow.flows.cli import run
        run()  # as the installed command runs: the app, then its quick end
    """
)


def physflow_process(args: list[str], tmp: Path, env_extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`physflow ARGS` in a child process with its own Prefect home under `tmp`, output captured."""
    tmp.mkdir(parents=True, exist_ok=True)
    driver = tmp / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect-home"), "PYTHONPATH": str(ROOT), **(env_extra or {})}
    env.pop("PREFECT_API_URL", None)
    # A session of its own, so `kill_leftovers` can reach what it started (Prefect's ephemeral API server).
    return subprocess.Popen([sys.executable, str(driver), *args], env=env, cwd=tmp, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def kill_leftovers(proc: subprocess.Popen[str]) -> None:
    """SIGKILL whatever is left of the child's process group (a killed run orphans its ephemeral server)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
