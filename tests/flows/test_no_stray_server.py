"""A command that started a temporary Prefect server leaves none behind, however it is stopped."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from physflow.flows.lifetime import STOP_GRACE_S
from tests.flows.kill_driver import kill_leftovers, physflow_process

SERVER_MARK = b"prefect.server.api.server:create_app"


def _servers(prefect_home: Path) -> list[int]:
    """Pids of running (not zombie) temporary Prefect servers whose PREFECT_HOME is `prefect_home`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if SERVER_MARK not in (proc / "cmdline").read_bytes():
                continue
            if f"PREFECT_HOME={prefect_home}".encode() not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
        except OSError:
            continue
        found.append(int(proc.name))
    return found


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc to find server processes")
@pytest.mark.timeout(300)
def test_killed_cli_leaves_no_server(demo_videos, tmp_path):
    """Stopped while the server starts, or mid-run (a stage blocked in a write): SIGTERM, SIGINT, SIGKILL."""
    folder = str(demo_videos[0].parent)
    cases = {"term-starting": (signal.SIGTERM, False), "term-mid-run": (signal.SIGTERM, True),
             "int-mid-run": (signal.SIGINT, True), "kill-mid-run": (signal.SIGKILL, True)}
    runs = {}
    for name, (_, mid_run) in cases.items():
        tmp = tmp_path / name
        extra = {"PHYSFLOW_TEST_HANG": str(tmp / "hung"), "PHYSFLOW_TEST_MATCH": "/artifacts/ingest/"}
        runs[name] = physflow_process(["--catalog", str(tmp / "catalog"), "ingest", folder], tmp,
                                      extra if mid_run else None)
    try:
        for name, (sig, mid_run) in cases.items():
            tmp, proc = tmp_path / name, runs[name]
            home = tmp / "prefect-home"
            if mid_run:
                _wait(lambda tmp=tmp, proc=proc: (tmp / "hung").exists() or proc.poll() is not None, 240,
                      f"{name}: the run to block in its write")
            else:
                _wait(lambda home=home, proc=proc: _servers(home) or proc.poll() is not None, 240,
                      f"{name}: the server to start")
            assert proc.poll() is None, proc.communicate()[0]
            assert _servers(home), f"{name}: no temporary server found while the command ran"
            started = time.monotonic()
            proc.send_signal(sig)
            proc.wait(timeout=STOP_GRACE_S + 30)  # bounded: a worker thread blocked in a write does not hold it
            assert time.monotonic() - started < STOP_GRACE_S + 30
            _wait(lambda home=home: not _servers(home), 30, f"{name}: the server to stop")
    finally:
        for proc in runs.values():
            if proc.poll() is None:
                proc.kill()
            kill_leftovers(proc)
