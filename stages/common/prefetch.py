"""Decode ahead: a reader thread pulls frames (PyAV decodes and swscale scales without the GIL) into a short
queue while the caller measures or encodes the previous ones, so the two overlap on two cores."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()
_CORE_FREE = [True]


def core_free(free: bool) -> None:
    """Tell this process whether a core is free for a reader thread: a worker process told by its pool that other
    items wait for the cores (all of them will be busy) reads in its own thread. There the reader only added
    thread switches and queueing: the 14 shared real videos' cold curation took 0.3 CPU-s more with it, and about
    0.2 s longer (benchmarks/curate.py)."""
    _CORE_FREE[0] = free


def prefetched(items: Iterator[T], depth: int) -> Iterator[T]:
    """`items` in order, read up to `depth` ahead on a reader thread (depth 0, or no core free for it
    (`core_free`): read here); the reader's exception is raised here, and the reader stops once the caller does."""
    if depth <= 0 or not _CORE_FREE[0]:
        yield from items
        return
    ahead: queue.Queue[object] = queue.Queue(depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ahead.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put(_END)
        except BaseException as exc:  # handed to the caller, which raises it
            ahead.put(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # the generator's `with` closes the container on this thread

    reader = threading.Thread(target=read, name="prefetch", daemon=True)
    reader.start()
    try:
        while (item := ahead.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while reader.is_alive():
            try:
                ahead.get_nowait()
            except queue.Empty:
                reader.join(0.05)
