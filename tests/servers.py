"""Helpers for tests that start servers (always on 127.0.0.1)."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serving(url: str, proc: subprocess.Popen, timeout_s: float) -> bool:  # type: ignore[type-arg]
    """Whether GET `url` answers 200 before `timeout_s` passes, polling while `proc` (the server) lives."""
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False
