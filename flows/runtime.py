"""Prefect glue: a stage shard as a Prefect task run keyed by its artifact key (DESIGN §5).

`plan` turns (stage, config, shards of items with content keys) into `StageJob`s; `run_jobs` submits
them as task runs. A job whose artifact is complete shows as Cached in the Prefect UI and runs no
stage code (the shards a sealed catalog vouches for as one task run per stage); otherwise the task runs
the stage (reusing, item by item, rows that earlier artifacts already hold when the stage declares its items'
identities, and the rows of items a killed run finished, from the catalog's item journal), writes the artifact
(temp file, rename, manifest last), registers it in the catalog (on Ray's workers the flow process registers a
stage's artifacts when its tasks are done); its task run's state message tells its counters. A stage that computed
shards publishes one table artifact with their counters summed, and a stage running longer than
`PROGRESS_INTERVAL_S` one progress artifact that moves while it runs: one for the stage, not one per shard (a
stage's shards share the worker processes, so each spans most of the stage).

`RunnerSpec` and `task_runner` pick where the work runs (DESIGN §8): Prefect's default thread pool (a CPU-bound
stage's items on worker processes), prefect-dask (a local cluster of worker processes, or the address of an
existing cluster: the task runs run on this process's threads and send their items to the cluster), or
prefect-ray when it is installed (the task runs on its workers). Artifacts are the same whichever runner computed
them.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import dataclasses
import datetime as dt
import functools
import heapq
import itertools
import logging
import math
import os
import re
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal

import pyarrow as pa
from prefect import task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext, TaskRunContext
from prefect.futures import as_completed as futures_completed
from prefect.futures import wait
from prefect.states import Completed, State
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote
from pydantic import BaseModel, ConfigDict, Field, model_validator

with contextlib.suppress(ImportError):
    # pyarrow imports pandas, when installed, the first time it converts Python values (every stage's table):
    # imported with this module, before any flow starts, not inside a flow's first stage, where the import took
    # up to a second while the worker processes started on the other core, and held every shard's first table.
    import pandas  # noqa: F401

from physflow.data_catalog import Catalog, cache_key
from physflow.data_catalog.artifacts import blob_refs
from physflow.data_catalog.journal import JOURNAL_FILE, ItemJournal
from physflow.data_catalog.keys import canonical_json, sha256_text, shard_id
from physflow.data_catalog.schemas import ERROR
from physflow.data_catalog.sharding import content_shards
from physflow.flows.progress import reporter
from physflow.flows.workers import fork_context
from physflow.stages.base import ProgressFn, Stage, StageConfig, cluster_items, init_worker, item_rows
from physflow.stages.common.video_io import DECODER_THREADS_ENV

PROGRESS_INTERVAL_S = 1.0
"""A stage running longer than this publishes a progress artifact, updated at most this often."""

log = logging.getLogger("physflow.runtime")


class ArtifactRef(BaseModel):
    """What a stage task returns: enough to find, trust and chain its artifact."""

    stage: str
    key: str
    table: str
    shard: str
    rows: int
    content_sha256: str
    stats: dict[str, Any]
    sealed: bool = False  # vouched for by the catalog's seal: one Cached task run stands for the stage's sealed shards
    sealed_in: str = ""  # that task run's `run_jobs` call (a flow may run a stage's jobs in several, e.g. batches)


class StageJob(BaseModel):
    """One stage over one shard: everything the task needs, and the key it is cached under."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    stage_cls: type[Stage]  # type: ignore[type-arg]
    config: StageConfig
    inputs: Any
    input_keys: list[str]
    shard: str
    key: str
    catalog_root: str
    reuse: bool = True  # look up earlier rows of its items (run_jobs clears it when the registry holds none)
    views: bool = False  # rebuild its table's view as it registers (run_jobs sets it for a stage's only job; with
    # several, each registration marks the view stale and run_jobs rebuilds it once when they are done)
    registers: bool = True  # registers its artifact as the task ends; run_jobs clears it for tasks on Ray's
    # workers, whose artifacts the flow process registers together once they are done
    cluster: str = ""  # the Dask cluster its items run on, when its task run runs in the flow process (run_jobs)
    progress: str = ""  # its stage's `StageProgress` in the process that submitted it (run_jobs sets it under
    # Prefect's thread pool; a task run elsewhere, on a cluster's worker, reports its shard's progress alone)

    @property
    def label(self) -> str:
        return f"{self.stage_cls.name} {self.shard[:8]}"


def plan(
    stage_cls: type[Stage[Any, Any]],
    config: StageConfig,
    items: Sequence[Any],
    *,
    keys: Sequence[str],
    catalog: Catalog,
    shard_size: int,
    group_keys: Sequence[str] | None = None,
) -> list[StageJob]:
    """Group items into content-defined shards (by `group_keys`, hex content keys, when given, else by `keys`)
    and compute each shard's artifact key (from `keys`)."""
    weights = stage_cls(config).weights_sha256()
    jobs = []
    for shard_items in content_shards(list(zip(items, keys, strict=True)), list(group_keys or keys), shard_size):
        shard_keys = [k for _, k in shard_items]
        jobs.append(
            StageJob(
                stage_cls=stage_cls, config=config, inputs=[it for it, _ in shard_items], input_keys=shard_keys,
                shard=shard_id(stage_cls.name, shard_keys),
                key=cache_key(stage_cls.name, stage_cls.VERSION, config, shard_keys, weights),
                catalog_root=str(catalog.root.uri),
            )
        )
    return jobs


def _job_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    job: StageJob = parameters["job"]
    return f"{job.stage_cls.name}-{job.key}"


@task(persist_result=True, cache_key_fn=_job_cache_key)
def run_stage_job(job: StageJob) -> ArtifactRef | State:
    """Compute one shard's artifact; one already complete on disk ends as Cached without running the stage."""
    catalog = Catalog(job.catalog_root)
    store = catalog.artifacts
    name = job.stage_cls.name
    # Complete and undamaged, with its blobs (e.g. a run killed after the write, before Prefect cached it); a
    # damaged one is quarantined here and computed again.
    found = store.intact(name, job.key, with_blobs=True)
    done_before = found is not None
    shared = _PROGRESS.get(job.progress)  # its stage's, in this process; else the shard's own (a cluster's worker)
    progress = shared or StageProgress(name, [job.shard], reporter(job.label))
    try:
        if found is not None:
            manifest = found
        else:
            table, stats, recipe, items = _compute(job, catalog, progress.of(job.shard))
            manifest = store.write(
                stage=name, version=job.stage_cls.VERSION, key=job.key, table_name=job.stage_cls.table,
                table=table, shard=job.shard, config=job.config.model_dump(mode="json"), inputs=job.input_keys,
                weights=job.stage_cls(job.config).weights_sha256(), stats=stats, flow_run_id=_flow_run_id(),
                recipe=recipe, items=items,
            )
            forget_kept(catalog, name, recipe, items)
        if job.registers:
            catalog.register(manifest, views=job.views)
    finally:  # the shard counts whole in its stage's progress once written and registered (or failed)
        _LARGEST_FIRST.arrive(job.progress, job.shard)  # (a shard that queued no items, or failed before)
        progress.shard_done(job.shard)
        if shared is None:  # its own artifact shows the end before the task run does
            progress.flush()
    ref = ArtifactRef(
        stage=name, key=manifest.key, table=manifest.table, shard=manifest.shard, rows=manifest.rows,
        content_sha256=manifest.content_sha256, stats=manifest.stats,
    )
    if done_before:
        return Completed(name="Cached", data=ref, message=f"artifact {name}/{job.key[:12]} already complete")
    return Completed(data=ref, message=stats_line(manifest.stats))


PROFILER_OFF = {"distributed.worker.profile.enabled": False}
"""Dask's worker profiler, off on the local clusters `task_runner` starts (`stages.base.stop_dask_profiler`)."""


def _compute(job: StageJob, catalog: Catalog, progress: ProgressFn) -> tuple[pa.Table, dict[str, Any], str | None,
                                                                              list[tuple[str, int]]]:
    """The shard's table and counters, plus its recipe and item index when the stage declares item identities
    (`Stage.identity`): then an item whose rows an earlier artifact already holds under the same recipe is
    reused from it, one that a run killed before this shard's artifact was written had finished is resumed from
    the catalog's item journal (`_KeptItems`), and only the others are computed. The rows are in item order
    either way.

    A CPU-bound stage under Prefect's thread pool spreads its items over worker processes, so the GIL no longer
    holds the second core and no two encoders share a process; on a Dask cluster over the cluster's threads, as
    are the items of a stage that runs them side by side (`Stage.item_threads`: ingest's probing), and a shard of
    another stage (its models set up once) is one task there. The rows are the same either way. The shard's
    `seconds` are the computed items' work summed, as one process would spend them."""
    start = time.perf_counter()
    stage = job.stage_cls(job.config)
    items = stage.prepare(job.inputs)
    recipe, keys = item_keys(stage, items)
    results: dict[int, list[dict[str, Any]]] = {}
    if recipe is not None and keys is not None and job.reuse:
        found = catalog.item_rows(stage.name, recipe, keys)
        results = {i: found[k] for i, k in enumerate(keys) if k in found}
        if results:
            progress(len(results), len(items))
    reused = len(results)
    todo = [i for i in range(len(items)) if i not in results]
    spent: dict[int, float] = {}  # the seconds each item computed here took
    kept = None if recipe is None or keys is None else \
        _KeptItems(catalog, stage, recipe, keys, results=results, spent=spent)
    resumed = kept.resume(todo) if kept is not None else 0
    if resumed:
        todo = [i for i in todo if i not in results]
        progress(len(results), len(items))
    if kept is not None:
        progress = kept.keeping(progress)
    work = time.perf_counter() - start
    cluster = _CLUSTERS.get(job.cluster)
    on_workers = bool(todo) and job.stage_cls.cpu_bound and _on_thread_pool()
    if not on_workers:
        _LARGEST_FIRST.arrive(job.progress, job.shard)  # it queues nothing for the worker pool
    if on_workers:
        work += _rows_on_workers(job, stage, items, todo=todo, results=results, progress=progress, spent=spent)
    elif todo and cluster is not None and (job.stage_cls.cpu_bound or job.stage_cls.item_threads != 1):
        work += _rows_on_cluster(job, stage, items, todo=todo, results=results, progress=progress, client=cluster,
                                 spent=spent)
    elif todo and cluster is not None:  # its models on a worker's devices, set up once for the shard
        work += _shard_on_cluster(job, stage, items, todo=todo, results=results, client=cluster)
        progress(len(results), len(items))
    else:
        work += _rows_here(stage, items, todo=todo, results=results, progress=progress, spent=spent)
    table = stage.finish([row for i in range(len(items)) for row in results[i]], work)
    stats = stage.stats.as_dict()
    if keys is None:
        return table, stats, None, []
    stats["reused_items"] = reused
    if resumed:
        stats["resumed_items"] = resumed
    return table, stats, recipe, [(k, len(results[i])) for i, k in enumerate(keys)]


def _rows_here(stage: Stage[Any, Any], items: Sequence[Any], *, todo: list[int], results: dict[int, list[dict[str, Any]]],
               progress: ProgressFn, spent: dict[int, float]) -> float:
    """Items `todo` in this process, into `results` (and each one's seconds into `spent`): the first alone (it
    sets the stage up), the others on the stage's `item_threads` side by side; the seconds of work they took.
    Progress is told from the calling thread."""
    work = 0.0

    def timed(i: int) -> tuple[list[dict[str, Any]], float]:
        t0 = time.perf_counter()
        return stage.item_rows(items[i]), time.perf_counter() - t0

    def collect(i: int, rows: list[dict[str, Any]], seconds: float) -> None:
        nonlocal work
        results[i], spent[i] = rows, seconds
        work += seconds
        progress(len(results), len(items))

    threads = min(stage.item_threads or os.cpu_count() or 1, len(todo) - 1)
    if threads < 2:
        for i in todo:
            collect(i, *timed(i))
        return work
    collect(todo[0], *timed(todo[0]))
    with ThreadPoolExecutor(threads, thread_name_prefix=f"physflow-{stage.name}") as pool:
        index = {pool.submit(timed, i): i for i in todo[1:]}
        for future in as_completed(index):
            collect(index[future], *future.result())
    return work


class _KeptItems:
    """A shard's items in the catalog's item journal (data_catalog/journal.py): those an earlier run finished in
    a shard it never completed are taken from it (`resume`), and the rows of the items this shard finishes are
    added to it as they come (`keeping`), at most every `JOURNAL_INTERVAL_S`, until the shard's artifact holds
    them (`forget_kept`). Items whose work took under `JOURNAL_ITEM_S` (`spent`) are not kept: computing them
    again costs little more than keeping them."""

    def __init__(self, catalog: Catalog, stage: Stage[Any, Any], recipe: str, keys: list[str], *,
                 results: dict[int, list[dict[str, Any]]], spent: dict[int, float]):
        self.journal = ItemJournal(catalog.root.local_path(JOURNAL_FILE))
        self.blobs = catalog.artifacts.blobs
        self.stage, self.recipe, self.keys, self.results, self.spent = stage, recipe, keys, results, spent
        self.settled = set(results)  # rows from earlier artifacts, or from the journal: kept already
        self.last = time.monotonic()

    def resume(self, todo: list[int]) -> int:
        """Takes the rows the journal holds for items `todo` into the results (those whose blobs are all
        present); how many."""
        index = {self.keys[i]: i for i in todo}
        found = 0
        for item, data in self.journal.rows(self.stage.name, self.recipe, list(index)).items():
            try:
                table = pa.ipc.open_stream(data).read_all()
            except (pa.ArrowInvalid, OSError):
                continue
            if all(self.blobs.problem(ref) is None for ref in blob_refs(table)):
                self.results[index[item]] = table.to_pylist()
                self.settled.add(index[item])
                found += 1
        return found

    def keeping(self, progress: ProgressFn) -> ProgressFn:
        """`progress`, which also adds the items finished since the last addition, when it is time."""

        def report(done: int, total: int) -> None:
            now = time.monotonic()
            if now - self.last >= JOURNAL_INTERVAL_S:
                self.last = now
                fresh = [i for i in self.results if i not in self.settled]
                self.journal.add(self.stage.name, self.recipe, {
                    self.keys[i]: _ipc(self.results[i], self.stage.schema) for i in fresh
                    if self.spent.get(i, 0.0) >= JOURNAL_ITEM_S
                    and not any(row.get(ERROR) for row in self.results[i])})
                self.settled.update(fresh)
            progress(done, total)

        return report


JOURNAL_INTERVAL_S = 1.0
"""A shard adds its finished items to the item journal at most this often: a killed run computes again at most
this long of its work, with the items running when it died."""
JOURNAL_ITEM_S = 0.05
"""Items whose work took less than this are not kept in the journal: keeping one costs about half a millisecond of
the flow process's time (its rows to Arrow, into SQLite), which on the scale benchmark's 1,000 tiny videos (about
10 ms an item) took 3% more time."""


def _ipc(rows: list[dict[str, Any]], schema: pa.Schema) -> bytes:
    sink = pa.BufferOutputStream()
    table = pa.Table.from_pylist(rows, schema=schema)
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]


def forget_kept(catalog: Catalog, stage: str, recipe: str | None, items: Sequence[tuple[str, int]]) -> None:
    """Drops from the item journal the items of an artifact just written (it holds them now)."""
    if recipe is not None:
        ItemJournal(catalog.root.local_path(JOURNAL_FILE)).forget(stage, recipe, [item for item, _ in items])


def item_keys(stage: Stage[Any, Any], items: Sequence[Any]) -> tuple[str | None, list[str] | None]:
    """The stage's recipe (its name, version, config and weights) and the content key of each item's identity;
    (None, None) when the stage declares none (`Stage.identity`) or there are no items."""
    identities = [stage.identity(item) for item in items]
    if not identities or any(i is None for i in identities):
        return None, None
    recipe = cache_key(stage.name, stage.VERSION, stage.config, [], stage.weights_sha256())
    return recipe, [sha256_text(canonical_json(i)) for i in identities]


def _without_reuse(catalog: Catalog, jobs: Sequence[StageJob]) -> set[int]:
    """Indices of the jobs none of whose items an earlier artifact holds: one registry read per stage and recipe
    (rather than one per shard), so the shards of a cold run skip the lookup."""
    groups: dict[tuple[str, str], list[tuple[int, list[str]]]] = {}
    for i, job in enumerate(jobs):
        if job.stage_cls.identity is Stage.identity:
            continue  # declares no identities: its items are not looked at
        stage = job.stage_cls(job.config)
        recipe, keys = item_keys(stage, stage.items(job.inputs))
        if recipe is not None and keys is not None:
            groups.setdefault((stage.name, recipe), []).append((i, keys))
    out = set()
    for (stage_name, recipe), members in groups.items():
        known = catalog.known_items(stage_name, recipe, [k for _, keys in members for k in keys])
        out.update(i for i, keys in members if known.isdisjoint(keys))
    return out


def _rows_on_workers(job: StageJob, stage: Stage[Any, Any], items: Sequence[Any], *, todo: list[int],
                     results: dict[int, list[dict[str, Any]]], progress: ProgressFn, spent: dict[int, float]) -> float:
    """Items `todo` on the process pool, costliest first among the waiting items of every shard so the pool
    drains evenly (`_LARGEST_FIRST`), into `results` (and each one's seconds into `spent`); the seconds of work
    they took. An item whose worker dies (a decoder crash on a bad file) is tried once more alone, on a worker of
    its own (`_alone`), then becomes its error rows; the other items go on on the replaced pool."""
    work = 0.0

    def collect(index: int, rows: list[dict[str, Any]], seconds: float) -> None:
        nonlocal work
        results[index] = rows
        spent[index] = seconds
        work += seconds
        progress(len(results), len(items))

    costs = {i: stage.cost(items[i]) for i in todo}
    order = _costliest_first(costs)
    submitted = _LARGEST_FIRST.submit_all([(costs[i], item_rows, (job.stage_cls, job.config, items[i])) for i in order],
                                          paced=job.stage_cls, gate=(job.progress, job.shard))
    futures = dict(zip(submitted, order, strict=True))
    lost = []
    for future in as_completed(futures):
        try:
            collect(futures[future], *future.result())
        except ItemStopped as exc:  # not tried again: it would only run into its limit again
            collect(futures[future], stage.error_rows(items[futures[future]], str(exc)), 0.0)
        except BrokenProcessPool:
            lost.append(futures[future])
    for i in sorted(lost, key=order.index):  # alone, so a crash is this item's
        limit, started = _LARGEST_FIRST.pace.limit(job.stage_cls, costs[i]), time.monotonic()
        try:
            collect(i, *_alone(item_rows, job.stage_cls, job.config, items[i], limit_s=limit))
        except BrokenProcessPool:
            reason = str(ItemStopped(limit)) if _ran_out(limit, started) else WORKER_DIED
            collect(i, stage.error_rows(items[i], reason), 0.0)
    return work


@functools.cache
def _stage_task(stage: str, refresh_cache: bool) -> Any:
    """`run_stage_job` named for `stage`, each of its task runs for its shard (`StageJob.label`): one task per
    stage, not one per job (making a task reads its function's source, 4 ms each of the flow process's time)."""
    return run_stage_job.with_options(name=stage, task_run_name=_shard_run_name, refresh_cache=refresh_cache)


def _shard_run_name(parameters: dict[str, Any]) -> str:
    job = parameters["job"]
    return (job.unquote() if isinstance(job, quote) else job).label.replace(" ", "-")


def _stage_progress(pending: dict[int, tuple[StageJob, bool]]) -> dict[str, str]:
    """A `StageProgress` for each stage with shards to compute in this process's task runs, by stage: its id in
    `_PROGRESS`, where those task runs find it."""
    shards: dict[str, list[str]] = {}
    for job, complete in pending.values():
        if not complete:
            shards.setdefault(job.stage_cls.name, []).append(job.shard)
    ids = {}
    for stage, names in shards.items():
        ids[stage] = uuid.uuid4().hex
        _PROGRESS[ids[stage]] = StageProgress(stage, names, reporter(stage))
    return ids


def _gather_shards(pending: dict[int, tuple[StageJob, bool]], progress: dict[str, str], window: int | None,
                   on_pool: bool) -> None:
    """Announce to the worker pool the shards of each CPU-bound stage about to compute side by side (those the
    in-flight window lets start now), so that their items are ranked together (`_LargestFirst.expect`)."""
    if not on_pool or not _on_thread_pool():
        return
    starting = list(pending.values())[:window] if window else list(pending.values())
    for stage, gate in progress.items():
        _LARGEST_FIRST.expect(gate, [job.shard for job, complete in starting
                                     if job.stage_cls.name == stage and job.stage_cls.cpu_bound and not complete])


def _costliest_first(costs: dict[int, float]) -> list[int]:
    """The items of `costs` (index -> cost), costliest first (the same cost: in index order)."""
    return sorted(costs, key=lambda i: (-costs[i], i))


def _rows_on_cluster(job: StageJob, stage: Stage[Any, Any], items: Sequence[Any], *, todo: list[int],
                     results: dict[int, list[dict[str, Any]]], progress: ProgressFn, client: Any,
                     spent: dict[int, float]) -> float:
    """Items `todo` as Dask tasks through `client`, costliest first, on whichever of the cluster's threads is free
    (a shard's items ran one after another on one thread, so a few shards left most of a cluster idle), into
    `results` (and each one's seconds into `spent`); the seconds of work they took.

    Items the stage's pace on the cluster (`_CLUSTER_PACE`, learnt from its finished items) says take well under
    `CLUSTER_TASK_S` go together, as many as fill that time, in one task: on 1,000 videos of 50 frames (about 20 ms
    each) a task per item spent more of the cores on Dask's bookkeeping than on the videos. Until the pace is
    known a shard sends one item per cluster thread, alone, and the rest once they are done. The items of a task
    Dask gave up (its worker kept dying) are tried again each in a task of its own, and those that die again once
    more after the others, one at a time; an item that dies then becomes its error rows."""
    import distributed

    work = 0.0
    costs = {i: stage.cost(items[i]) for i in todo}
    waiting = _costliest_first(costs)
    threads = max(1, sum(client.nthreads().values()))
    futures: dict[Any, list[int]] = {}
    running = distributed.as_completed(loop=client.loop)

    def send(groups: list[list[int]]) -> None:
        for rank, group in enumerate(groups):
            # A task of several short items reads them without reader threads: their start costs more than the
            # decoding they would overlap, with every core of the cluster busy.
            future = client.submit(cluster_items, job.stage_cls, job.config, [items[i] for i in group],
                                   len(group) == 1, pure=False, priority=len(groups) - rank)
            futures[future] = group
            running.add(future)

    def send_waiting() -> None:
        groups = _CLUSTER_PACE.groups(job.stage_cls, [(i, costs[i]) for i in waiting], CLUSTER_TASK_S)
        if groups is None:  # no pace yet: the costliest alone, to learn it
            groups, rest = [[i] for i in waiting[:threads]], waiting[threads:]
        else:
            rest = []
        waiting[:] = rest
        send(groups)

    def collect(i: int, rows: list[dict[str, Any]], seconds: float) -> None:
        nonlocal work
        results[i] = rows
        spent[i] = seconds
        work += seconds
        if seconds:
            _CLUSTER_PACE.add(job.stage_cls, costs[i], seconds)

    lost: list[int] = []  # items whose task of their own Dask gave up
    send_waiting()
    for future in running:
        group = futures.pop(future)
        try:
            for i, (rows, seconds) in zip(group, future.result(), strict=True):
                collect(i, rows, seconds)
        except distributed.KilledWorker:
            if len(group) > 1:  # which one killed its worker: each again on its own
                send([[i] for i in group])
            else:
                lost.append(group[0])
        progress(len(results), len(items))
        if waiting and (not futures or _CLUSTER_PACE.rate(job.stage_cls) is not None):
            send_waiting()
    # One at a time: a worker's death marks every task it held, so an item that only shared the worker with the
    # one that killed it runs again, and the culprit dies alone.
    for i in lost:
        try:
            ((rows, seconds),) = client.submit(cluster_items, job.stage_cls, job.config, [items[i]], pure=False
                                               ).result()
        except distributed.KilledWorker:
            rows, seconds = stage.error_rows(items[i], WORKER_DIED), 0.0
        collect(i, rows, seconds)
        progress(len(results), len(items))
    return work


WORKER_DIED = "worker process died while processing this item"
"""The error of an item whose worker process died under it again when it ran alone (on the pool or a Dask
cluster)."""

CLUSTER_TASK_S = 0.25
"""Seconds of work a Dask task of a CPU-bound (or `item_threads`) stage's items is filled to (`_rows_on_cluster`),
when its items are that short: long enough that the scheduler's few milliseconds a task are a small share, short
enough that the last tasks of a run end close together."""


def _shard_on_cluster(job: StageJob, stage: Stage[Any, Any], items: Sequence[Any], *, todo: list[int],
                      results: dict[int, list[dict[str, Any]]], client: Any) -> float:
    """Items `todo` one after another as one Dask task, into `results`; the seconds of work they took. Items that
    a worker kept dying on (Dask gave the task up) become their error rows."""
    import distributed

    future = client.submit(cluster_items, job.stage_cls, job.config, [items[i] for i in todo], pure=False)
    try:
        done = future.result()
    except distributed.KilledWorker:
        done = [(stage.error_rows(items[i], "worker process died while processing this shard"), 0.0) for i in todo]
    for i, (rows, _) in zip(todo, done, strict=True):
        results[i] = rows
    return sum(seconds for _, seconds in done)


_CLUSTERS: dict[str, Any] = {}
"""The Dask client of each `run_jobs` call whose task runs run in this process and their items on a cluster."""


def _dask_client() -> Any:
    """The client of the Dask cluster this flow run's task runner is (None when it is not one)."""
    from prefect.context import FlowRunContext

    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        return None
    ctx = FlowRunContext.get()
    runner = ctx.task_runner if ctx is not None else None
    return runner.client if isinstance(runner, DaskTaskRunner) else None


def _cluster_window(client: Any) -> int:
    """Shards whose task runs wait on a Dask cluster at once: twice its threads (each shard sends it several
    videos), at least 8; unbounded, every shard of a batch held a thread and its rows in the flow process."""
    try:
        threads = sum(client.nthreads().values())
    except Exception:  # a cluster that cannot tell: the default runner's window
        threads = 0
    return max(8, 2 * threads)


def _on_thread_pool(any_cores: bool = False) -> bool:
    """Whether this flow run's tasks run on Prefect's thread pool (on a machine of two cores or more, unless
    `any_cores`)."""
    from prefect.context import FlowRunContext
    from prefect.task_runners import ThreadPoolTaskRunner

    ctx = FlowRunContext.get()
    on_threads = ctx is not None and isinstance(ctx.task_runner, ThreadPoolTaskRunner)
    return on_threads and (any_cores or (os.cpu_count() or 1) > 1)


class _LargestFirst:
    """Hands the items of every shard running at once to the worker pool costliest first, one per free worker.

    A stage's shards run as task runs side by side, each submitting its items, sorted, as it starts: the pool
    ran them first come first served, so the costliest item of a shard that started a little later (a long HD
    video) could start last and run alone at the stage's end while the other workers idled (0.2-0.4 s of a
    3.9 s curation of the 14 shared videos). Here the items wait in one queue and the next free worker takes
    the costliest of all, so the largest start first across shards (longest processing time first).

    When a worker dies (a decoder crash on a bad file), the items the pool was running end with
    `BrokenProcessPool`: one of them is the culprit, and their shards try each again alone (`_alone`). The pool
    is replaced (`replace`) before the next item is handed out, so the items still waiting run on the new pool,
    side by side as before: handed to the broken pool, they failed too, and each shard tried them one after
    another. An item the pool refuses (broken or shut down before it ran) goes to the new pool once; refused
    again, or without `replace`, it ends with `BrokenProcessPool` like the others. A stage's item runs under a
    time limit from the stage's pace (`_Pace`); one that ran past it ends with `ItemStopped` and is not tried
    again.

    The shards of a stage that start together are ranked together (`expect`): items are handed out once each of
    them has queued its items or said it has none (`arrive`), or `GATHER_S` after they were announced, whichever
    comes first. Handed out as they came, the first free workers took the costliest items of whichever shard
    queued first, and a costlier item of a shard a few milliseconds later could run last, alone."""

    def __init__(self, pool: Callable[[], Executor], workers: Callable[[], int],
                 replace: Callable[[Executor], object] | None = None):
        self._pool = pool
        self._workers = workers
        self._replace = replace
        self.pace = _Pace()
        self.lock = threading.Lock()
        self._waiting: list[tuple[float, int, Future[Any], Callable[..., Any], tuple[Any, ...], Any]] = []
        self._order = itertools.count()
        self._running = 0
        self._gathering: dict[str, tuple[set[str], float]] = {}  # gate -> (shards still to queue, deadline)

    def expect(self, gate: str, shards: Sequence[str]) -> None:
        """Hold the hand-out until the shards named (task runs starting now) have each queued their items under
        `gate` (`submit_all`) or said they have none (`arrive`), for at most `GATHER_S`."""
        if len(set(shards)) < 2:
            return
        with self.lock:
            self._gathering[gate] = (set(shards), time.monotonic() + GATHER_S)
        timer = threading.Timer(GATHER_S + 0.01, self._hand_out)  # (after the deadline, not on it)
        timer.daemon = True
        timer.start()

    def arrive(self, gate: str, shard: str) -> None:
        """Shard `shard` under `gate` queues nothing (more): found complete, nothing to compute on the workers,
        or done. Saying it twice is saying it once."""
        self.submit_all([], gate=(gate, shard))

    def submit_all(self, calls: Sequence[tuple[float, Callable[..., Any], tuple[Any, ...]]], paced: Any = None,
                   gate: tuple[str, str] | None = None) -> list[Future[Any]]:
        """`submit` for each (cost, fn, args) of `calls`, all queued before the first is handed out, so that
        each knows the others wait (`core_free`); `gate`: (gate, shard), the shard of those announced together
        (`expect`) that queues them."""
        futures: list[Future[Any]] = []
        with self.lock:
            for cost, fn, args in calls:
                futures.append(Future())
                heapq.heappush(self._waiting, (-cost, next(self._order), futures[-1], fn, args, paced))
            if gate is not None and gate[0] in self._gathering:
                awaited = self._gathering[gate[0]][0]
                awaited.discard(gate[1])
                if not awaited:
                    del self._gathering[gate[0]]
        self._hand_out()
        return futures

    def _gathered(self) -> bool:
        """(Under the lock.) Whether no announced shards are still awaited; those past their deadline are not."""
        now = time.monotonic()
        for gate, (_, deadline) in list(self._gathering.items()):
            if now >= deadline:
                del self._gathering[gate]
        return not self._gathering

    def submit(self, cost: float, fn: Callable[..., Any], *args: Any, paced: Any = None) -> Future[Any]:
        """`fn(*args)` on a worker when it is the costliest waiting. `paced`: the stage whose pace limits the
        item's time (`_Pace`); `fn` then takes the limit as `limit_s`, whether a core will be free for a reader
        thread as `core_free` (fewer items running and waiting than workers), and returns (rows, seconds)
        (`item_rows`)."""
        return self.submit_all([(cost, fn, args)], paced=paced)[0]

    def _hand_out(self) -> None:
        """Submit the costliest waiting items while a worker is free, each with its time limit (`_Pace`)."""
        while True:
            with self.lock:
                if not self._waiting or self._running >= self._workers() or not self._gathered():
                    return
                negative_cost, _, future, fn, args, paced = heapq.heappop(self._waiting)
                self._running += 1
                # Fewer items running and waiting than workers: a core stays free for the item's reader thread.
                core_free = self._running + len(self._waiting) < self._workers()
            limit = None if paced is None else self.pace.limit(paced, -negative_cost)
            kwargs = {} if paced is None else {"limit_s": limit, "core_free": core_free}
            try:
                pool, inner = self._submit(fn, args, kwargs)
            except Exception as exc:  # the item's, never the queue's: this may run on the pool's thread
                with self.lock:
                    self._running -= 1
                future.set_exception(exc)
                continue
            started = time.monotonic()
            inner.add_done_callback(lambda done, future=future, kind=paced, cost=-negative_cost, limit=limit,
                                    started=started, pool=pool: self._done(done, future, kind=kind, cost=cost,
                                                                           limit=limit, started=started, pool=pool))

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
                ) -> tuple[Executor, Future[Any]]:
        """The pool that took `fn(*args, **kwargs)`, and its future: a pool that refuses it, broken or shut down
        (the item never ran), is replaced once. A refusal becomes `BrokenProcessPool`; any other error is the
        item's."""
        for attempt in (0, 1):
            pool = self._pool()
            try:
                return pool, pool.submit(fn, *args, **kwargs)
            except (BrokenProcessPool, RuntimeError) as exc:  # RuntimeError: shut down, to be replaced
                if attempt or self._replace is None:
                    raise exc if isinstance(exc, BrokenProcessPool) else BrokenProcessPool(str(exc)) from exc
                self._replace(pool)
        raise AssertionError("unreachable")

    def _done(self, inner: Future[Any], future: Future[Any], *, kind: Any, cost: float, limit: float | None,
              started: float, pool: Executor) -> None:
        """(On the pool's thread.) Pass the item's outcome on, then hand out the next one, to a new pool when
        this one broke. A worker that died once its item's limit had passed stopped itself
        (`stages.base.item_rows`): `ItemStopped`."""
        with self.lock:
            self._running -= 1
        error = BrokenProcessPool("the worker pool was replaced before this item ran") if inner.cancelled() \
            else inner.exception()
        if isinstance(error, BrokenProcessPool):
            if self._replace is not None:
                self._replace(pool)
            if _ran_out(limit, started):
                error = ItemStopped(limit)  # type: ignore[arg-type]
        if error is not None:
            future.set_exception(error)
        else:
            result = inner.result()
            if kind is not None:
                self.pace.add(kind, cost, result[1])
            future.set_result(result)
        self._hand_out()


def _ran_out(limit: float | None, started: float) -> bool:
    """Whether an item handed out at `started` (`time.monotonic`) under `limit` has run past it: a worker that
    died then stopped itself (`stages.base.item_rows`)."""
    return limit is not None and time.monotonic() - started >= limit


class ItemStopped(BrokenProcessPool):
    """An item that ran past its time limit on a worker process, which stopped itself."""

    def __init__(self, limit: float):
        super().__init__(f"stopped after {limit:.0f} s on its worker, {ITEM_LIMIT_FACTOR:.0f} times what its size "
                         "predicts from this run's other items (a decoder that never returned?)")


GATHER_S = 0.05
"""The longest the worker pool waits for the shards of a stage announced together to queue their items
(`_LargestFirst.expect`): they start within milliseconds of each other, unless one fails before it queues."""
ITEM_LIMIT_FLOOR_S = 900.0
"""An item on a worker process is stopped after no less than this, whatever its size predicts (`_Pace`)."""
ITEM_LIMIT_FACTOR = 50.0
"""... and no less than this many times the seconds its size predicts."""
PACE_ITEMS = 4
"""Items of a stage finished on the workers before its items get a time limit."""


class _Pace:
    """Seconds per unit of `Stage.cost` of the last items each stage finished on the worker processes, and from
    them an item's time limit: `ITEM_LIMIT_FACTOR` times what its cost predicts at their median pace, and at least
    `ITEM_LIMIT_FLOOR_S`; none until the stage has finished `PACE_ITEMS` items (or for an item of no cost). A
    decoder that never returns on a crafted file held its worker, and the run, forever; a limit from the run's
    own pace stops it on any machine without stopping a long video that is merely long."""

    def __init__(self) -> None:
        self._rates: dict[Any, collections.deque[float]] = {}

    def add(self, kind: Any, cost: float, seconds: float) -> None:
        if cost > 0:
            self._rates.setdefault(kind, collections.deque(maxlen=64)).append(seconds / cost)

    def limit(self, kind: Any, cost: float) -> float | None:
        predicted = self.predict(kind, cost)
        return None if predicted is None else max(ITEM_LIMIT_FLOOR_S, ITEM_LIMIT_FACTOR * predicted)

    def predict(self, kind: Any, cost: float) -> float | None:
        """Seconds an item of `cost` takes at the stage's pace (None: not known yet, or no cost)."""
        rate = self.rate(kind)
        return None if rate is None or cost <= 0 else rate * cost

    def rate(self, kind: Any) -> float | None:
        """The median seconds per unit of cost of the stage's last items (None before `PACE_ITEMS` of them)."""
        rates = self._rates.get(kind)
        if rates is None or len(rates) < PACE_ITEMS:
            return None
        return statistics.median(list(rates))  # (a copy: other threads add to it)

    def groups(self, kind: Any, costed: Sequence[tuple[int, float]], seconds: float) -> list[list[int]] | None:
        """The items (index, cost; in the order given) in consecutive groups of about `seconds` of predicted work
        each, an item predicted to take longer alone (None while the pace is not known)."""
        rate = self.rate(kind)
        if rate is None:
            return None
        groups: list[list[int]] = []
        filled = seconds
        for i, cost in costed:
            predicted = rate * max(cost, 0.0)
            if filled + predicted > seconds:
                groups.append([])
                filled = 0.0
            groups[-1].append(i)
            filled += predicted
        return groups


_CLUSTER_PACE = _Pace()
"""The pace of each stage's items on Dask clusters, which `_rows_on_cluster` fills tasks by."""


def _workers() -> int:
    """Worker processes in the pool: one per core."""
    return os.cpu_count() or 1


WORKER_NICE_ENV = "PHYSFLOW_WORKER_NICE"
DEFAULT_WORKER_NICE = 10


def _worker_nice() -> int:
    """Scheduling priority steps the worker processes run below the flow process (`WORKER_NICE`)."""
    raw = os.environ.get(WORKER_NICE_ENV, "").strip()
    if not raw:
        return DEFAULT_WORKER_NICE
    if not (raw.isdigit() and int(raw) <= 19):
        raise ValueError(f"{WORKER_NICE_ENV} must be a whole number from 0 to 19 (0: the flow process's priority), "
                         f"not {raw!r}")
    return int(raw)


WORKER_NICE = _worker_nice()
"""The worker processes run this many steps below the flow process's scheduling priority (`nice`;
`DEFAULT_WORKER_NICE` unless `PHYSFLOW_WORKER_NICE` says otherwise, 0 for the same): what lies between a stage's items (task runs, their
exchange with a local Prefect server, registrations, dedup and the filter) is serial work of the flow process and
the server, and at equal priority it waited for cores behind the workers' decoding. The workers still get every
core the others leave: the 14 shared real videos' cold curation took 4.28-4.61 s with it against 4.48-4.74 s
(benchmarks/curate.py, alternating runs)."""


_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _process_pool(replace: ProcessPoolExecutor | None = None, preload: Sequence[str] = ()) -> ProcessPoolExecutor:
    """One pool per flow process, a worker per core, started on first use; Python shuts it down at exit.
    `replace`: a pool found broken (a worker died), replaced by a new one unless that happened already.
    `preload`: modules the fork server imports besides `workers.PRELOAD` when this call starts it (the stages a
    flow is about to run), so that a worker's first item does not wait for them; a command starts the server
    sooner (`workers.start_fork_server`).

    Workers fork from a fork server (forking the flow process itself, which runs Prefect's threads, is unsafe)
    that imported `workers.PRELOAD` once, the caller's main module included, so a script keeps heavy imports under
    `if __name__ == "__main__"`. Each worker decodes with one thread per worker's share of the cores, and
    OpenCV likewise, so the workers together fill the cores without oversubscribing them."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None and replace is not None and _POOL is replace:
            _shut_down(_POOL)
            _POOL = None
        if _POOL is None:
            workers = _workers()
            _POOL = ProcessPoolExecutor(max_workers=workers, mp_context=fork_context(preload), initializer=init_worker,
                                        initargs=(_cores_each(workers), WORKER_NICE))
        return _POOL


def _shut_down(pool: ProcessPoolExecutor) -> None:
    """Shut a replaced pool down without waiting, its queued items cancelled, from a thread of its own: the call
    may come from the pool's own thread, while it tells its items that the pool broke."""
    threading.Thread(target=pool.shutdown, kwargs={"wait": False, "cancel_futures": True},
                     name="physflow-pool-shutdown", daemon=True).start()


_LONE: ProcessPoolExecutor | None = None
_LONE_LOCK = threading.Lock()


def _alone(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)` on a worker process of its own (a pool of one, started when first needed and
    replaced when its worker dies), one call at a time for the whole flow process: an item tried again after a
    worker died, so that a second crash is its own and takes no other item down. The worker pool goes on
    with the other items meanwhile."""
    global _LONE
    with _LONE_LOCK:
        if _LONE is None:
            _LONE = ProcessPoolExecutor(max_workers=1, mp_context=fork_context(), initializer=init_worker,
                                        initargs=(_cores_each(_workers()), WORKER_NICE))
        try:
            return _LONE.submit(fn, *args, **kwargs).result()
        except BrokenProcessPool:
            _shut_down(_LONE)
            _LONE = None
            raise


def _replace_pool(broken: Executor) -> None:
    """Replace the worker pool, found broken, unless that happened already (`_process_pool`)."""
    _process_pool(replace=broken)  # type: ignore[arg-type]


_LARGEST_FIRST = _LargestFirst(_process_pool, _workers, _replace_pool)


def _after_fork() -> None:
    """In a forked child: a queue of its own, empty, its lock free (a thread of the parent may have held the
    parent's) and no item counted as running (the parent's items run for the parent)."""
    global _LARGEST_FIRST
    _LARGEST_FIRST = _LargestFirst(_process_pool, _workers, _replace_pool)


os.register_at_fork(after_in_child=_after_fork)


def _cores_each(workers: int) -> int:
    """This machine's cores shared among `workers` processes (at least one each)."""
    return max(1, (os.cpu_count() or 1) // workers)


def start_workers(*stages: type[Stage[Any, Any]]) -> None:
    """Start the worker processes now, in the background, with the modules of `stages` (the CPU-bound stages
    the flow will run) imported, unless they run already; only under Prefect's thread pool, where CPU-bound
    stages use them."""
    if _on_thread_pool() and _POOL is None:
        modules = [s.__module__ for s in stages]
        threading.Thread(target=_spawn_workers, args=(modules,), name="physflow-start-workers", daemon=True).start()


@dataclasses.dataclass
class _WorkersOnWork:
    stages: tuple[type[Stage[Any, Any]], ...]
    triggers: tuple[type[Stage[Any, Any]], ...]
    started: bool = False


_WORKERS_ON_WORK: contextvars.ContextVar[_WorkersOnWork | None] = contextvars.ContextVar(
    "physflow_workers_on_work", default=None)


@contextlib.contextmanager
def workers_on_first_work(*stages: type[Stage[Any, Any]],
                          early: Sequence[type[Stage[Any, Any]]] = ()) -> Iterator[None]:
    """Within the block, the first `run_jobs` with a job of `stages` or of the `early` stages to compute starts
    the worker processes for `stages` (`start_workers`). With a flow's first stage as `early` (ingest: new
    videos), their start (about a second of imports) overlaps it; a run with nothing for them to compute starts
    none, nor waits for them at exit."""
    token = _WORKERS_ON_WORK.set(_WorkersOnWork(stages, (*stages, *early)))
    try:
        yield
    finally:
        _WORKERS_ON_WORK.reset(token)


def _spawn_workers(modules: Sequence[str]) -> None:
    pool = _process_pool(preload=modules)  # each submit starts a worker once the fork server has imported them
    for _ in range(_workers()):
        pool.submit(os.getpid)


@task(cache_policy=NO_CACHE, persist_result=False)
def sealed_shards(stage: str, refs: list[ArtifactRef]) -> State:
    """The shards of one stage that the catalog's seal vouches for, as one Cached task run: a warm run's cost
    does not grow with the number of shards (each task run is a few Prefect API events)."""
    return Completed(name="Cached", data=refs, message=f"{len(refs)} {stage} shard(s) complete, vouched for by the "
                     "catalog's seal")


def _submit_sealed(sealed: dict[str, list[ArtifactRef]], threads: ThreadPoolTaskRunner | None, local: bool
                   ) -> list[Any]:
    """One Cached task run per stage for its shards the seal vouches for (`sealed_shards`), on `threads` when given
    (beside a Dask cluster) else on the flow's task runner; their futures."""
    groups = []
    for stage, group in sealed.items():
        name = f"{stage}-{sha256_text(canonical_json(sorted(r.key for r in group)))[:8]}"
        sealed_task = sealed_shards.with_options(name=stage, task_run_name=name)
        parameters = {"stage": stage, "refs": quote(group) if local else group}
        groups.append(threads.submit(sealed_task, parameters) if threads else sealed_task.submit(**parameters))
    return groups


def replay_sealed(catalog: Catalog, shards: Sequence[tuple[str, str]],
                  alongside: Callable[[], object] | None = None) -> list[ArtifactRef] | None:
    """The artifacts `shards` names ((stage, key) each, in order) as `run_jobs` returns the shards the catalog's
    seal vouches for, each stage shown as one Cached task run, when the seal holds and every one is registered
    under its stage as its shard's current artifact; None, with nothing submitted, when not. No file is opened.

    `alongside()`, when they stand, runs on a thread of its own as the task runs start, and is waited for: the
    caller's report of what they stand for (an artifact) reaches the Prefect server before their events do, which
    then take it 30-40 ms of CPU a task run. Sent after them, a warm curation's summary artifact waited 38-57 ms for
    its answer; sent alongside, 21-22 ms (a warm run's median 0.222 s against 0.249 s, 8 of each)."""
    rows = _trusted_in_run(catalog, [key for _, key in shards])
    if rows is None or any((row := rows.get(key)) is None or row["stage"] != stage or not row["current"]
                           for stage, key in shards):
        return None
    call = uuid.uuid4().hex
    refs = [ArtifactRef(key=key, sealed=True, sealed_in=call, **{k: v for k, v in rows[key].items() if k != "current"})
            for _, key in shards]
    by_stage: dict[str, list[ArtifactRef]] = {}
    for ref in refs:
        by_stage.setdefault(ref.stage, []).append(ref)
    local = _on_thread_pool(any_cores=True)
    with meanwhile(alongside) if alongside is not None else contextlib.nullcontext(), \
            ThreadPoolTaskRunner() if not local and _dask_client() is not None else contextlib.nullcontext() as threads:
        groups = _submit_sealed(by_stage, threads, local or threads is not None)
        wait(groups)
    for group in groups:
        group.result()  # raises as a shard's would, should Prefect fail the task run
    return refs


def run_jobs(jobs: Sequence[StageJob]) -> list[ArtifactRef]:
    """Submit the jobs as task runs (on the flow's task runner) and wait for all of them; the refs in job order.

    When the catalog's seal holds, one read of the registry vouches for every registered artifact: those jobs
    are one Cached task run per stage that opens no file. Every other job is its own task run, which checks its
    artifact and computes it when it is missing or damaged (Cached when it was complete).
    """
    refs: dict[int, ArtifactRef] = {}
    call = uuid.uuid4().hex
    futures, in_flight = {}, set()
    window = in_flight_limit()
    catalogs: dict[str, Catalog] = {}
    trusted: dict[str, dict[str, dict[str, Any]] | None] = {}
    sealed: dict[str, list[tuple[int, ArtifactRef]]] = {}
    changed: set[str] = set()  # catalogs not sealed, or with a job to compute: sealed afterwards (or at a checkpoint)
    pending: dict[int, tuple[StageJob, bool]] = {}  # a task run each: the job, and whether it is complete on disk
    promoted: dict[str, list[StageJob]] = {}  # jobs complete on disk whose artifact is not their shard's current one
    unsealed_rows: dict[str, dict[str, dict[str, Any]]] = {}  # registry rows of the jobs of a catalog not sealed
    # Quoted where the task runs run in this process (Prefect's thread pool, or this process's threads for a Dask
    # cluster): Prefect would otherwise walk every item of a job looking for futures (there are none). Ray's
    # workers take jobs as they are.
    local = _on_thread_pool(any_cores=True)
    cluster = None if local else _dask_client()
    cluster_id = uuid.uuid4().hex
    local = local or cluster is not None  # the task runs run on this process's threads
    if cluster is not None:
        window = _cluster_window(cluster)
    keys: dict[str, list[str]] = {}
    for job in jobs:
        keys.setdefault(job.catalog_root, []).append(job.key)
    for i, job in enumerate(jobs):
        if job.catalog_root not in catalogs:
            catalogs[job.catalog_root] = Catalog(job.catalog_root)
            trusted[job.catalog_root] = _trusted_in_run(catalogs[job.catalog_root], keys[job.catalog_root])
        catalog, registered = catalogs[job.catalog_root], trusted[job.catalog_root]
        row = registered.get(job.key) if registered is not None else None
        if row is not None and row["stage"] == job.stage_cls.name:
            fields = {k: v for k, v in row.items() if k != "current"}
            ref = ArtifactRef(key=job.key, sealed=True, sealed_in=call, **fields)
            sealed.setdefault(job.stage_cls.name, []).append((i, ref))
            if not row["current"]:  # used again after another of its shard: registered again, it is current
                promoted.setdefault(job.catalog_root, []).append(job)
            continue
        changed.add(job.catalog_root)
        # Without a seal: complete and undamaged (size, and sha256 only for files changed since last verified);
        # a damaged one is quarantined here and computed again. A job found incomplete refreshes Prefect's
        # cache, so a stale Prefect result can never stand in for data that is gone.
        complete = registered is None and \
            catalog.artifacts.intact(job.stage_cls.name, job.key, with_blobs=True) is not None
        if complete:  # its task run is Cached and runs nothing: registered again here when it is not current
            if job.catalog_root not in unsealed_rows:
                unsealed_rows[job.catalog_root] = catalog.registered_rows(keys[job.catalog_root])
            row = unsealed_rows[job.catalog_root].get(job.key)
            if row is None or not row["current"]:
                promoted.setdefault(job.catalog_root, []).append(job)
        pending[i] = job, complete
    for root, promote in promoted.items():  # (a config changed and changed back): the views show it again
        catalogs[root].register_all([catalogs[root].artifacts.manifest(j.stage_cls.name, j.key) for j in promote])
    on_work = _WORKERS_ON_WORK.get()
    if on_work and not on_work.started and any(
            job.stage_cls in on_work.triggers and not complete for job, complete in pending.values()):
        on_work.started = True
        start_workers(*on_work.stages)
    for root, catalog in catalogs.items():  # shards with nothing to reuse skip their own lookup
        computed = [i for i, (job, complete) in pending.items() if job.catalog_root == root and not complete]
        for k in _without_reuse(catalog, [pending[i][0] for i in computed]):
            job, complete = pending[computed[k]]
            pending[computed[k]] = job.model_copy(update={"reuse": False}), complete
    # A stage's only job rebuilds its table's view in its registration's writer session, instead of in one of
    # its own afterwards (about 30 ms a stage; dedup is always one job, filter and export are on small runs).
    jobs_per_table = Counter((job.catalog_root, job.stage_cls.table) for job, _ in pending.values())
    for i, (job, complete) in pending.items():
        if jobs_per_table[job.catalog_root, job.stage_cls.table] == 1:
            pending[i] = job.model_copy(update={"views": True}), complete
    if not local:
        # On Ray, whose workers run the task runs, the flow process registers what the workers wrote to a shared
        # catalog, a stage's artifacts in one writer session when its tasks are done: registered by each task,
        # every shard took the catalog's file lock and opened, wrote and checkpointed the registry file from its
        # worker (a tenth of the workers' time on the scale benchmark on Dask). An object-store catalog's workers
        # still register in their own machine's registry, whose rows their later items reuse.
        pending = {i: (job.model_copy(update={"registers": False}) if catalogs[job.catalog_root].root.is_local
                       else job, complete) for i, (job, complete) in pending.items()}
    stale = {job.catalog_root for job, _ in pending.values()
             if not job.views or not job.registers or not catalogs[job.catalog_root].root.is_local}
    if cluster is not None:
        _CLUSTERS[cluster_id] = cluster
    # On a Dask cluster the task runs run here, on threads (each on a worker made its own Prefect API client and
    # settings, a fifth of the workers' time on the scale benchmark), and send their items to the cluster.
    with ThreadPoolTaskRunner() if cluster is not None else contextlib.nullcontext() as threads:
        progress = _stage_progress(pending) if local else {}
        _gather_shards(pending, progress, window, cluster is None)
        for i, (planned, complete) in pending.items():
            job = planned.model_copy(update={"progress": progress.get(planned.stage_cls.name, ""),
                                             "cluster": cluster_id if cluster is not None else ""})
            runner = _stage_task(job.stage_cls.name, refresh_cache=not complete)
            while window and len(in_flight) >= window:
                in_flight.discard(next(futures_completed(list(in_flight))))
            parameters = {"job": quote(job) if local else job}
            futures[i] = threads.submit(runner, parameters) if threads else runner.submit(**parameters)
            in_flight.add(futures[i])
        groups = _submit_sealed({stage: [ref for _, ref in group] for stage, group in sealed.items()}, threads,
                                local)
        for group in sealed.values():
            refs.update(group)
        try:
            wait([*futures.values(), *groups])
        finally:
            for key in progress.values():
                sent = _PROGRESS.pop(key, None)
                if sent is not None:
                    _flushed(sent)
            if cluster is not None:
                _CLUSTERS.pop(cluster_id, None)
    try:
        done, failure = {}, None
        for i, future in futures.items():
            try:
                done[i] = future.result()
            except Exception as exc:  # the first in job order is raised, once the others are registered
                failure = failure or exc
        for root, catalog in catalogs.items():  # what the tasks did not register: on a cluster's workers, or (an
            # object-store catalog) in the registry of the machine each ran on; read from the store's manifests
            mine = [i for i in done if jobs[i].catalog_root == root and (not catalog.root.is_local or
                                                                         not pending[i][0].registers)]
            catalog.register_all([catalog.artifacts.manifest(done[i].stage, done[i].key) for i in mine], views=False)
        for stage in dict.fromkeys(job.stage_cls.name for job, _ in pending.values()):
            computed = [done[i] for i, (job, complete) in pending.items()
                        if job.stage_cls.name == stage and not complete and i in done
                        and futures[i].state.name != "Cached"]
            if computed:
                reused = sum(1 for job in jobs if job.stage_cls.name == stage) - len(computed)
                block = _SEAL_CHECKPOINTS.get()
                if block is None:
                    _publish_stage_stats(stage, computed, reused)
                else:  # (an API call of about 20 ms, between one stage and the next)
                    block.aside(_publish_stage_stats, stage, computed, reused)
        if failure is not None:
            raise failure
        refs.update(done)
    finally:  # the views the shards left stale, each rebuilt once, a shard failed or not; within a
        checkpoints = _SEAL_CHECKPOINTS.get()  # `seal_checkpoints` block at its next checkpoint
        for root in stale:
            if checkpoints is None:
                catalogs[root].refresh_views()
            else:
                checkpoints.stale.setdefault(root, catalogs[root])
    for group_future in groups:
        group_future.result()  # raises as a shard's would, should Prefect fail the task run
    for root in changed:  # when everything checks out, the next run trusts the registry without opening artifacts
        registered = trusted[root]
        if checkpoints is None:
            _seal(catalogs[root])
        else:  # sealed at the block's next checkpoint; meanwhile trusted in this process, with what it registered
            checkpoints.changed.setdefault(root, catalogs[root])
            added = {job.key for job, _ in pending.values() if job.catalog_root == root}
            _extend_trust(catalogs[root], None if registered is None else added - registered.keys())
    return [refs[i] for i in range(len(jobs))]


@dataclasses.dataclass(frozen=True)
class _Trust:
    """What a flow run found of a catalog's seal: whether it held (`artifacts`: how many were registered then;
    None: it did not), as of the registry's stamp (`Catalog.registry_stamp`)."""

    run: str
    stamp: tuple[Any, ...]
    artifacts: int | None
    rows: dict[str, dict[str, Any]] | None = None  # every registry row, read with the check (a small catalog)


_TRUSTED: dict[str, _Trust] = {}

WHOLE_REGISTRY = 2_000
"""A catalog of at most this many artifacts has all its registry rows read when a run finds its seal holding, and
the run's later stages find their jobs in them while the registry does not change (a warm run: four queries of a
few milliseconds fewer). A larger catalog is looked up stage by stage, its jobs' rows only."""


def _trusted_in_run(catalog: Catalog, keys: Sequence[str]) -> dict[str, dict[str, Any]] | None:
    """`Catalog.trusted_artifacts` of `keys`: the seal checked once per flow run while neither the registry nor
    the seal changes (or changes only by what the run itself registered, `seal_checkpoints`), so the later stages
    of a run skip the registry read and the listing of every artifact and blob file (each artifact a stage reads
    is still checked against its file's size and time). A new run checks again, so a file lost between runs is
    found. On a catalog of more than `WHOLE_REGISTRY` artifacts only the rows of `keys` are read: what the flow
    process holds does not grow with the catalog."""
    run = _flow_run_id()
    stamp = catalog.registry_stamp()
    known = _TRUSTED.get(str(catalog.root.uri))
    if run is not None and known is not None and (known.run, known.stamp) == (run, stamp):
        if known.artifacts is None:
            return None
        return catalog.registered_rows(keys) if known.rows is None else _of(known.rows, keys)
    count = catalog.artifact_count()
    if not catalog.seal_holds():
        _remember_trust(catalog, run, stamp, None)
        return None
    if count > WHOLE_REGISTRY:
        _remember_trust(catalog, run, stamp, count)
        return catalog.registered_rows(keys)
    rows = catalog.registered_rows()
    _remember_trust(catalog, run, stamp, count, rows)
    return _of(rows, keys)


def _of(rows: dict[str, dict[str, Any]], keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {key: rows[key] for key in keys if key in rows}


def _remember_trust(catalog: Catalog, run: str | None, stamp: tuple[Any, ...], artifacts: int | None,
                    rows: dict[str, dict[str, Any]] | None = None) -> None:
    if run is not None:
        _TRUSTED[str(catalog.root.uri)] = _Trust(run, stamp, artifacts, rows)


def _seal(catalog: Catalog) -> None:
    """Seal the catalog (everything registered proven intact) and trust it for the rest of the flow run."""
    stamp_before = catalog.registry_stamp()
    count = catalog.artifact_count()
    held = catalog.seal()
    stamp = catalog.registry_stamp()
    if held or stamp != stamp_before:  # not written and nothing changed (a read-only registry): as found before
        _remember_trust(catalog, _flow_run_id(), stamp, count if held else None)


def _extend_trust(catalog: Catalog, added: set[str] | None) -> None:
    """After a `run_jobs` call that registered the artifacts of `added` (keys not registered before; None: the
    catalog was not trusted), trust the registry as it now is for the rest of the flow run, when the run trusted
    it before the call and the call's registrations are all that changed in it (the count of artifacts tells
    another writer's): they were written and checked by this run's task runs. A catalog not trusted before
    stays so until the next seal, without the registry read it took to find that out."""
    root, run = str(catalog.root.uri), _flow_run_id()
    known = _TRUSTED.get(root)
    if run is None or known is None or known.run != run:
        return
    stamp = catalog.registry_stamp()
    if added is None or known.artifacts is None:
        _remember_trust(catalog, run, stamp, None)
        return
    count = catalog.artifact_count()
    _remember_trust(catalog, run, stamp, count if count == known.artifacts + len(added) else None)


@dataclasses.dataclass
class SealCheckpoints:
    """The catalogs that `run_jobs` calls changed since they were last sealed, and those whose views they left
    stale (`seal_checkpoints`)."""

    changed: dict[str, Catalog] = dataclasses.field(default_factory=dict)
    stale: dict[str, Catalog] = dataclasses.field(default_factory=dict)
    share: float = 0.1
    _sealed_at: float | None = None
    _cost: float = 0.0
    _aside: list[threading.Thread] = dataclasses.field(default_factory=list)

    def aside(self, fn: Callable[..., object], *args: Any) -> None:
        """`fn(*args)` on a thread of its own, in this thread's context (Prefect's run context with it), that the
        next checkpoint waits for: reports that need not hold up the run (a stage's stats artifact)."""
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(fn, *args), name=f"physflow-{fn.__name__}")
        thread.start()
        self._aside.append(thread)

    def checkpoint(self, *, force: bool = False) -> None:
        """Rebuild the stale views (one writer session a catalog), then seal the changed catalogs when forced, at
        the first checkpoint, or once the time since the last seal is enough for sealing to cost at most `share`
        of it (a seal proves the whole catalog: a cost that grows with it). What was set aside is waited for
        after that: its API calls go out while the catalogs are written (waited for first, the stats artifact of
        a run's last stage held the end of every cold curation for 10-20 ms)."""
        try:
            self._write(force)
        finally:
            while self._aside:
                self._aside.pop().join()

    def _write(self, force: bool) -> None:
        for catalog in self.stale.values():
            catalog.refresh_views()
            _extend_trust(catalog, set())  # the registry changed, its artifacts did not: trusted as before
        self.stale.clear()
        if not self.changed or (not force and self._sealed_at is not None
                                and time.perf_counter() - self._sealed_at < self._cost / self.share):
            return
        start = time.perf_counter()
        for catalog in self.changed.values():
            _seal(catalog)
        self.changed.clear()
        self._sealed_at = time.perf_counter()
        self._cost = self._sealed_at - start


_SEAL_CHECKPOINTS: contextvars.ContextVar[SealCheckpoints | None] = contextvars.ContextVar(
    "physflow_seal_checkpoints", default=None)


@contextlib.contextmanager
def seal_checkpoints() -> Iterator[SealCheckpoints]:
    """Within the block, `run_jobs` does not seal the catalogs it changed after each call (the seal lists every
    file of the catalog and reads every manifest: a flow of many calls over a large catalog paid that cost at
    each one): the block's `checkpoint()` seals them (a batched flow calls it after each batch), and so does its
    end, however it ends. Nor does it rebuild the views its stages' shards left stale: the checkpoint does, once
    a batch (the flow reads artifacts, not views; meanwhile other readers see every registered shard through
    temporary views), where each stage's end did (on the 14 shared videos about 30 ms each, between stages); nor
    does it wait for a stage's stats artifact to be published (`SealCheckpoints.aside`: the checkpoint does).
    Between seals the run trusts what it found sealed plus what it registered itself (`_extend_trust`); a run
    killed before a seal leaves the catalog unsealed (its next run checks each artifact it uses, then seals)."""
    checkpoints = SealCheckpoints()
    token = _SEAL_CHECKPOINTS.set(checkpoints)
    try:
        yield checkpoints
    finally:
        _SEAL_CHECKPOINTS.reset(token)
        checkpoints.checkpoint(force=True)


def forget_task_results() -> None:
    """Between batches, when no task run of the flow run is running: drop the flow run's record of which task run
    returned each object it has seen (Prefect's `run_results`, kept so that a task given an earlier task's result
    shows that run upstream; stage task runs take jobs, never another's result), which kept every task run's
    state, the assets each task run hands downstream (`task_run_assets`, read only for a task given another's
    result), and its thread pool's cancel event of each task run (set only to cancel running ones): each grew
    with a long run, an entry per task run."""
    from prefect.task_runners import ThreadPoolTaskRunner

    context = FlowRunContext.get()
    if context is None:
        return
    context.run_results.clear()
    context.task_run_assets.clear()
    events = getattr(context.task_runner, "_cancel_events", None)  # Prefect's thread pool keeps one per task run
    if isinstance(events, dict) and isinstance(context.task_runner, ThreadPoolTaskRunner):
        events.clear()


def task_run_count(refs: Sequence[ArtifactRef]) -> int:
    """The stage task runs that returned `refs`: one per shard computed or checked, one per stage and `run_jobs`
    call for the shards the catalog's seal vouched for."""
    calls = {(r.stage, r.sealed_in) for r in refs if r.sealed}
    return sum(not r.sealed for r in refs) + len(calls)


def in_flight_limit() -> int | None:
    """Shards run at once under Prefect's thread pool, which is unbounded by default: a thread per shard held the
    flow process's memory in proportion to the number of videos. Enough to keep every worker process fed (each
    shard spreads its items over them); Prefect's own limit when one is set; None (no limit) on Dask and Ray,
    whose schedulers place tasks on their workers."""
    if not _on_thread_pool(any_cores=True):
        return None
    from prefect.settings import get_current_settings

    return get_current_settings().tasks.runner.thread_pool_max_workers or max(8, 4 * (os.cpu_count() or 1))


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    run_id = flow_run.id
    return str(run_id) if run_id else None


def stats_line(stats: dict[str, Any]) -> str:
    """A shard's counters in a line: its task run's state message."""
    parts = [f"{stats.get('items', 0)} items", f"{stats.get('rows_in', 0)} rows in", f"{stats.get('rows_out', 0)} out",
             f"{stats.get('seconds', 0.0):.2f} s of work"]
    if stats.get("reused_items"):
        parts.append(f"{stats['reused_items']} items reused")
    if stats.get("resumed_items"):
        parts.append(f"{stats['resumed_items']} items resumed")
    parts += [f"{v} {k}" for k, v in sorted({**stats.get("errors", {}), **stats.get("rejected", {})}.items())]
    return ", ".join(parts)


def stage_stats(computed: Sequence[ArtifactRef], reused: int) -> list[dict[str, Any]]:
    """The counters of a stage's shards computed in one `run_jobs` call, summed, as rows of a table artifact;
    `reused` shards were complete already (Cached)."""
    total: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for ref in computed:
        total.update({k: ref.stats.get(k, 0) for k in ("items", "rows_in", "rows_out", "seconds", "reused_items",
                                                     "resumed_items")})
        errors.update(ref.stats.get("errors", {}))
        rejected.update(ref.stats.get("rejected", {}))
    return [
        {"measure": "shards computed", "value": len(computed)},
        {"measure": "shards complete before (Cached)", "value": reused},
        {"measure": "items", "value": total["items"]},
        {"measure": "rows in", "value": total["rows_in"]},
        {"measure": "rows out", "value": total["rows_out"]},
        {"measure": "seconds of work", "value": round(total["seconds"], 3)},
        *([{"measure": "items reused from earlier artifacts", "value": total["reused_items"]}]
          if total["reused_items"] else []),
        *([{"measure": "items resumed from a run that stopped mid-shard", "value": total["resumed_items"]}]
          if total["resumed_items"] else []),
        *({"measure": f"error: {k}", "value": v} for k, v in sorted(errors.items())),
        *({"measure": f"rejected: {k}", "value": v} for k, v in sorted(rejected.items())),
    ]


def _publish_stage_stats(stage: str, computed: Sequence[ArtifactRef], reused: int) -> None:
    try:
        create_table_artifact(
            key=artifact_key(stage, "stats"), table=stage_stats(computed, reused),
            description=f"{stage}: {len(computed)} shard(s) computed, "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC", _sync=True,
        )
    except Exception as exc:  # a view of what the catalog holds; losing it must not fail the run
        log.warning("stats artifact for %s not published: %s", stage, exc)


@contextlib.contextmanager
def meanwhile(fn: Callable[..., object], *args: Any) -> Iterator[None]:
    """`fn(*args)` on a thread, in this thread's context (Prefect's run context with it), while the body runs;
    leaving waits for it and raises what it raised, unless the body raised: that error is the one to tell."""
    context = contextvars.copy_context()
    raised: list[BaseException] = []

    def target() -> None:
        try:
            context.run(fn, *args)
        except BaseException as exc:  # handed to the waiting thread
            raised.append(exc)

    thread = threading.Thread(target=target, name=f"physflow-{fn.__name__}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()
    if raised:
        raise raised[0]


def _flushed(progress: StageProgress) -> None:
    """A stage's progress artifact sent in full: by the next checkpoint of a `seal_checkpoints` block (the
    flow goes on to its next stage meanwhile), else now."""
    block = _SEAL_CHECKPOINTS.get()
    if block is None:
        progress.flush()
    else:
        block.aside(progress.flush)


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key from free text: lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


_PROGRESS: dict[str, StageProgress] = {}
"""The `StageProgress` of each stage `run_jobs` is running in this process, by id (`StageJob.progress`)."""


class StageProgress:
    """A stage's progress over its shards: to the terminal sink and, once it has run `PROGRESS_INTERVAL_S` with
    work left, to one Prefect progress artifact updated at most that often.

    With one shard, progress counts its items; with several, shards (each shard's items done counted as a part
    of it), since a shard's number of items is known only once it starts. Shards report from their task runs'
    threads (`of`); the artifact is created by whichever reports first after the interval, so it belongs to
    that shard's task run, and to the flow run. The API calls go out on a thread of their own, the latest
    state first (`_send`), so that no shard waits for the server: the stage's last update, sent as it ends,
    held its last shard's task run for the call's round trip (8-14 ms on a local server, on the path from one
    stage to the next; more against a remote one). `flush` waits for what is still to send."""

    def __init__(self, stage: str, shards: Sequence[str], sink: Callable[[float, int], None] | None):
        self.stage, self.sink, self.shards = stage, sink, len(shards)
        self.counts: dict[str, tuple[int, int]] = dict.fromkeys(shards, (0, 0))  # each shard's (done, items)
        self.part: dict[str, float] = dict.fromkeys(shards, 0.0)  # each shard's part done, 0 to 1
        self.parts, self.items, self.ended = 0.0, 0, 0  # their sums (an update costs the same for any number)
        self.last = time.monotonic()
        self.artifact_id: Any = None
        self.shown: tuple[float, str] | None = None  # what the artifact shows
        self.enabled = True
        self._lock = threading.Lock()
        self._next: tuple[tuple[float, str], contextvars.Context] | None = None  # the state to send next
        self._sender: threading.Thread | None = None
        self._queued = False

    def of(self, shard: str) -> ProgressFn:
        """The progress callback of one of the stage's shards: (items done, items)."""
        return lambda done, total: self._update(shard, done, total)

    def shard_done(self, shard: str) -> None:
        self._update(shard, *self.counts.get(shard, (0, 0)), ended=True)

    def _update(self, shard: str, done: int, total: int, ended: bool = False) -> None:
        with self._lock:
            part = 1.0 if ended else min(done / total, 0.999) if total else 0.0  # whole once written
            self.parts += part - self.part.get(shard, 0.0)
            self.items += done - self.counts.get(shard, (0, 0))[0]
            self.ended += ended and self.part.get(shard) != 1.0
            self.part[shard], self.counts[shard] = part, (done, total)
            done_now, total_now = self._counts(shard)
            now = time.monotonic()
            publish = self.enabled and (
                (now - self.last >= PROGRESS_INTERVAL_S and done_now < total_now)
                or (self._queued and done_now >= total_now))
            if publish:
                self.last = now
        if self.sink:
            self.sink(done_now, total_now)
        if publish:
            with self._lock:  # the latest count, whichever shard's update is sent last
                done_now, total_now = self._counts(shard)
                percent = math.floor(1000 * done_now / total_now) / 10 if total_now else 100.0  # 100: done
                text = (f"{self.stage}: {done_now:g}/{total_now} items" if self.shards == 1 else
                        f"{self.stage}: {self.ended} of {total_now} shards done, {self.items} items")
                self._next = (percent, text), contextvars.copy_context()  # (the shard's task run's)
                self._queued = True  # an artifact is made or on its way: the stage's end is shown on it
                if self._sender is None:
                    self._sender = threading.Thread(target=self._send, name=f"physflow-progress-{self.stage}",
                                                    daemon=True)
                    self._sender.start()

    def _send(self) -> None:
        """Send the states handed over (`_next`), one at a time, until none is left: one thread at a time creates
        the artifact and updates it, and a state handed over while it sends goes next, replacing any earlier."""
        while True:
            with self._lock:
                handed, self._next = self._next, None
                if handed is None:
                    self._sender = None
                    return
            (percent, text), context = handed
            context.run(self._publish, percent, text)

    def flush(self) -> None:
        """Wait until the states handed over are sent."""
        with self._lock:
            sender = self._sender
        if sender is not None:
            sender.join()

    def _counts(self, shard: str) -> tuple[float, int]:
        """(done, total): the single shard's items, or shards, a shard's part counted by its items done (a shard
        that has done all its items counts whole only once it has ended, written and registered)."""
        if self.shards == 1:
            done, total = self.counts[shard]
            return (total if self.part[shard] == 1.0 else min(done, max(total - 1, 0))), total
        return round(self.parts, 3), self.shards

    def _publish(self, percent: float, text: str) -> None:
        if not self.enabled or (percent, text) == self.shown:
            return
        self.shown = (percent, text)
        try:
            if self.artifact_id is None:
                self.artifact_id = create_progress_artifact(
                    progress=percent, key=artifact_key(self.stage, "progress"), description=text, _sync=True)
            else:
                update_progress_artifact(artifact_id=self.artifact_id, progress=percent, description=text,
                                         _sync=True)
        except Exception as exc:  # progress is a view; losing it must not lose the work
            log.warning("progress artifact for %s disabled: %s", self.stage, exc)
            self.enabled = False


class RunnerSpec(BaseModel):
    """Where a flow's task runs execute (an orchestration setting, not a stage setting)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["default", "dask", "ray"] = Field(
        "default", description="default: Prefect's thread pool; dask: prefect-dask; ray: prefect-ray.")
    address: str | None = Field(
        None, max_length=500,
        description="Address of an existing cluster (dask: tcp://host:8786, ray: ray://host:10001); "
        "none starts a local one.")
    workers: int = Field(2, ge=1, le=256, description="Worker processes of a local cluster.")
    threads_per_worker: int = Field(1, ge=1, le=64, description="Threads in each local Dask worker.")

    @model_validator(mode="after")
    def _address_needs_cluster(self) -> RunnerSpec:
        if self.address and self.kind == "default":
            raise ValueError(f"runner address {self.address!r} needs kind 'dask' or 'ray', not 'default'")
        return self


@contextlib.contextmanager
def task_runner(spec: RunnerSpec) -> Iterator[Any]:
    """The task runner for `spec` (None = Prefect's default); a local cluster lives as long as the block.

    One local cluster serves every flow run in the block, so nested flows do not each start their own.
    """
    if spec.kind == "default":
        yield None
    elif spec.kind == "dask":
        from prefect_dask import DaskTaskRunner

        if spec.address:
            yield DaskTaskRunner(address=spec.address)
            return
        import dask
        from distributed import LocalCluster

        # Workers report to this process's Prefect API, not to ephemeral servers of their own, and decode with
        # their share of the cores, as the default runner's worker processes do; no profiler (`PROFILER_OFF`).
        env = {"PREFECT_API_URL": _api_url(), DECODER_THREADS_ENV: str(_cores_each(spec.workers))}
        with dask.config.set(PROFILER_OFF), LocalCluster(
                n_workers=spec.workers, threads_per_worker=spec.threads_per_worker, processes=True,
                host="127.0.0.1", dashboard_address=None, env=env, silence_logs=logging.WARNING) as cluster:
            yield DaskTaskRunner(address=cluster.scheduler_address)
    else:
        try:
            from prefect_ray import RayTaskRunner
        except ImportError:
            raise RuntimeError(
                "runner 'ray' needs prefect-ray, which is not installed: pip install 'physflow[ray]'"
            ) from None
        init = None if spec.address else {"num_cpus": spec.workers, "include_dashboard": False}
        yield RayTaskRunner(address=spec.address, init_kwargs=init)


def _api_url() -> str:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:  # starts the ephemeral API if this process has none yet
        return str(client.api_url).rstrip("/")


def with_runner(flow_obj: Any, runner: Any) -> Any:
    """`flow_obj` set to run its tasks on `runner` (from `task_runner`); unchanged for the default."""
    return flow_obj if runner is None else flow_obj.with_options(task_runner=runner)


def summarize(refs: Sequence[ArtifactRef]) -> dict[str, Any]:
    """Totals over a stage's shards: rows, errors and rejects by reason, seconds, items reused."""
    total: dict[str, Any] = {"shards": len(refs), "rows": 0, "errors": {}, "rejected": {}, "seconds": 0.0,
                             "reused_items": 0}
    for ref in refs:
        total["rows"] += ref.rows
        total["seconds"] += ref.stats.get("seconds", 0.0)
        total["reused_items"] += ref.stats.get("reused_items", 0)
        for kind in ("errors", "rejected"):
            for reason, n in ref.stats.get(kind, {}).items():
                total[kind][reason] = total[kind].get(reason, 0) + n
    total["seconds"] = round(total["seconds"], 3)
    return total
