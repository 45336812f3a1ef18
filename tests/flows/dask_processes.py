"""A Dask scheduler and worker processes started on their own, as on other machines (the cluster recipe's tests)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DASK = Path(sys.executable).with_name("dask")


@contextlib.contextmanager
def dask_cluster(folder: Path, env: dict[str, str], workers: int = 2) -> Iterator[str]:
    """The address of a scheduler and `workers` single-threaded worker processes on 127.0.0.1, with environment
    `env` and their logs in `folder`; all stopped on exit."""
    scheduler_file = folder / "scheduler.json"
    scheduler = _start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                        "--scheduler-file", str(scheduler_file)], folder / "scheduler.log", env)
    started = None
    try:
        address = _address(scheduler_file, scheduler)
        started = _start(["worker", address, "--nworkers", str(workers), "--nthreads", "1", "--host", "127.0.0.1",
                          "--no-dashboard"], folder / "workers.log", env)
        _wait_for_workers(address, workers)
        yield address
    finally:
        for proc in (started, scheduler):
            if proc is not None:
                _stop(proc)


def cold_and_warm(address: str, flow: Any, params: Any) -> tuple[Any, Any]:
    """Results of running `flow(params)` twice on the cluster at `address`."""
    from physflow.flows.runtime import RunnerSpec, task_runner, with_runner

    with task_runner(RunnerSpec(kind="dask", address=address)) as runner:
        return with_runner(flow, runner)(params), with_runner(flow, runner)(params)


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
