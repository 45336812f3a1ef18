"""A physflow command's child processes never outlive it, and a stop signal ends it within a bound.

Without a configured server, Prefect starts a temporary API server (a uvicorn child process) on first use
and stops it from an `atexit` hook. That misses three ways a command ends: SIGTERM (Python's default
action exits without running `atexit`), SIGHUP, and the death of the command itself (SIGKILL, the OOM
killer), which leaves the server running with parent pid 1. So, once per process:

- SIGTERM and SIGHUP raise SystemExit, so `finally` blocks and `atexit` hooks (Prefect's included) run;
  SIGINT raises KeyboardInterrupt as usual. Python runs these handlers in the main thread only when it
  next runs Python code, which a main thread blocked on a lock (waiting for a task) may not do for long; so
  the signal is also seen at C level through `signal.set_wakeup_fd` by a watcher thread, which ends the
  process (after its children) when it has not exited `STOP_GRACE_S` later, or at once on a second signal.
- Every child process started from the main thread (Prefect starts its server there) gets Linux's
  PR_SET_PDEATHSIG = SIGKILL (set with prctl through ctypes between fork and exec): the kernel kills it
  when the command dies, however it dies.
- At exit, children still running are terminated, then killed after `CHILD_STOP_S`.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, NoReturn

STOP_GRACE_S = 20.0
"""Seconds a command may take to wind down after SIGTERM, SIGHUP or SIGINT before it is ended at once."""
CHILD_STOP_S = 5.0
"""Seconds a child gets to exit after SIGTERM before SIGKILL."""

_PR_SET_PDEATHSIG = 1
_children: weakref.WeakSet[subprocess.Popen[Any]] = weakref.WeakSet()
_state = {"installed": False}
_OriginalPopen = subprocess.Popen


def _die_with(parent: int) -> Callable[[], None] | None:
    """A preexec function that makes the child die with `parent` (None where prctl is not available)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return preexec


class BoundPopen(_OriginalPopen):  # type: ignore[type-arg,misc]
    """`subprocess.Popen` whose children, started from the main thread, die with this process.

    Only the main thread: the kernel sends the signal when the *thread* that forked the child ends, and the
    main thread lives as long as the process."""

    def __init__(self, *args: Any, **kwargs: Any):
        if threading.current_thread() is threading.main_thread() and kwargs.get("preexec_fn") is None:
            kwargs["preexec_fn"] = _die_with(os.getpid())
        super().__init__(*args, **kwargs)
        _children.add(self)


def bind_children_to_this_process() -> None:
    """Install the signal handlers, the child-process binding and the exit hook (once; main thread only)."""
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        return
    _state["installed"] = True
    subprocess.Popen = BoundPopen  # type: ignore[misc]
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_stop)
    signal.signal(signal.SIGINT, _on_interrupt)
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(reader, writer), daemon=True, name="physflow-signal-watch").start()
    atexit.register(stop_children)  # registered first, so it runs after Prefect's own hook


def stop_children(timeout_s: float = CHILD_STOP_S) -> None:
    """Terminate the children still running, then kill those that outlast `timeout_s`."""
    alive = [p for p in list(_children) if p.poll() is None]
    for proc in alive:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
    deadline = time.monotonic() + timeout_s
    for proc in alive:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()


def _watch(reader: socket.socket, writer: socket.socket) -> None:
    """Count stop signals as they arrive (at C level, whatever the main thread is doing) and bound the exit."""
    received = 0
    with reader, writer:  # `writer` stays open as long as the wakeup fd may be written
        while data := reader.recv(64):
            for signum in data:
                if signum not in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                    continue
                received += 1
                if received > 1:  # a second signal: no more waiting
                    _end_now(128 + signum)
                threading.Thread(target=_end_after, args=(STOP_GRACE_S, 128 + signum), daemon=True,
                                 name="physflow-stop-bound").start()


def _on_stop(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _on_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def exit_now(status: object) -> NoReturn:
    """End the command with `status` as `sys.exit(status)` would (None: 0; an int: itself; anything else is
    printed to stderr, status 1), after all that Python runs when it exits: non-daemon threads joined and
    executors shut down (the worker pool's processes with them), then the `atexit` hooks (Prefect's, logging's
    flush, `stop_children`). Only the interpreter's teardown that follows is skipped: freeing every module and
    object of a process that imported Prefect took 0.3 s, the last 0.3 s of every such command, for memory the
    system frees at once. Nothing is lost with it: catalog sessions detach their DuckDB files as they end
    (`data_catalog.catalog`), and the streams are flushed here."""
    shutdown = getattr(threading, "_shutdown", None)  # what Python's own exit runs first, then the atexit hooks
    if shutdown is None:  # an interpreter without it: the usual exit
        raise SystemExit(status)
    if status is None:
        code = 0
    elif isinstance(status, int):
        code = status
    else:
        print(status, file=sys.stderr)
        code = 1
    shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken pipe: nothing left to flush to
            stream.flush()
    os._exit(code & 0xFF)


def _end_after(seconds: float, code: int) -> None:
    time.sleep(seconds)
    _end_now(code)


def _end_now(code: int) -> None:
    stop_children(timeout_s=1.0)
    os._exit(code)
