"""The flows' process settings for memory: pyarrow on the system allocator and two malloc arenas, unless the user
says otherwise; and what a flow run forgets between batches."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BACKEND = "import pyarrow as pa, physflow.flows; print(pa.default_memory_pool().backend_name)"


@pytest.mark.parametrize(("chosen", "first", "expected"), [
    (None, "", "system"),
    (None, "import pyarrow; ", "system"),  # pyarrow imported before the flows: told when they are
    ("mimalloc", "", "mimalloc"),
])
def test_pyarrow_allocates_from_the_system_allocator_unless_told_otherwise(chosen, first, expected):
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    out = subprocess.run([sys.executable, "-c", first + BACKEND], capture_output=True, text=True, env=env,
                         timeout=120, check=True).stdout
    assert out.strip() == expected


ARENAS = """
import ctypes, os, tempfile, threading
import physflow.flows
together = threading.Barrier(6)
def allocate():
    together.wait()  # all six alive at once: none takes over the arena of one that ended
    blocks = [bytearray(4096) for _ in range(200)]  # from the thread's malloc arena
    together.wait()
threads = [threading.Thread(target=allocate) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile(suffix=".xml") as out:
    stream = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(stream))
    libc.fclose(ctypes.c_void_p(stream))
    print(open(out.name).read().count("<heap nr="))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc arenas are glibc's")
@pytest.mark.parametrize(("setting", "bounded"), [(None, True), ("0", False)])
def test_a_flow_process_allocates_from_two_malloc_arenas_unless_told_otherwise(setting, bounded):
    env = {k: v for k, v in os.environ.items() if k not in ("PHYSFLOW_MALLOC_ARENAS", "MALLOC_ARENA_MAX")}
    if setting is not None:
        env["PHYSFLOW_MALLOC_ARENAS"] = setting
    heaps = int(subprocess.run([sys.executable, "-c", ARENAS], capture_output=True, text=True, env=env,
                               timeout=120, check=True).stdout)
    assert (heaps <= 2) == bounded, heaps


def test_between_batches_a_flow_run_forgets_what_it_kept_per_task_run():
    """After its task runs end, a flow run drops Prefect's record of which task run returned each result, of the
    assets each task run passes downstream, and its thread pool's cancel event of each task run: kept, each grew by
    an entry per task run over a long run."""
    from prefect import flow, task
    from prefect.context import FlowRunContext

    from physflow.flows.runtime import forget_task_results

    @task
    def double(x: int) -> dict[str, int]:
        return {"x": 2 * x}

    @flow
    def batches() -> list[tuple[int, int, int]]:
        context = FlowRunContext.get()
        assert context is not None
        kept = []
        for batch in range(2):
            futures = [double.submit(x) for x in range(5 * batch, 5 * batch + 5)]
            assert [f.result()["x"] for f in futures] == [2 * x for x in range(5 * batch, 5 * batch + 5)]
            before = (len(context.run_results), len(context.task_run_assets), len(context.task_runner._cancel_events))
            forget_task_results()
            kept.append(before)
            assert (len(context.run_results), len(context.task_run_assets),
                    len(context.task_runner._cancel_events)) == (0, 0, 0)
        return kept

    assert all(results >= 5 and assets == 5 and events == 5 for results, assets, events in batches())  # or more
