"""The stage contract (DESIGN §4) and the bookkeeping every stage shares.

A stage subclass declares `name`, `VERSION`, `Config`, the `table` it writes and the `input_columns`
it reads (checked before any work when its inputs are a table or rows), and implements `items` (split the inputs into work items) and `process` (one item to output
rows). `Stage.run` does the rest once for all stages: lazy model set-up, progress, timing, turning an
item's exception into an error row, counters of rows in/out and rejects by reason, and conforming
rows to the output schema.
"""

from __future__ import annotations

import faulthandler
import functools
import logging
import os
import sys
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from physflow.data_catalog.keys import file_sha256
from physflow.data_catalog.schemas import ERROR, REJECT_REASON, table_spec
from physflow.stages.common import prefetch

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
"""Called with (items done, items total) as a stage works."""


@dataclass(frozen=True)
class WeightsField:
    """A config field that holds a weights file: the registry entries that can fill it (the first registered
    one wins) and whether the config's settings cannot run without it (else the stage has a fallback)."""

    names: tuple[str, ...]
    required: bool = False


class StageConfig(BaseModel):
    """Base of every stage config: frozen, unknown fields rejected, every field typed and bounded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def weights_fields(self) -> dict[str, WeightsField]:
        """The fields holding weights files under these settings (flows fill them from the registry through
        flows/weights.py:resolve_weights; the stage's cache key includes each file's sha256)."""
        return {}


ConfigT = TypeVar("ConfigT", bound=StageConfig)
ItemT = TypeVar("ItemT")


@dataclass
class StageStats:
    """Counters for one stage run; published as the stage's table artifact."""

    items: int = 0
    rows_in: int = 0
    rows_out: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items, "rows_in": self.rows_in, "rows_out": self.rows_out,
            "errors": dict(self.errors), "rejected": dict(self.rejected), "seconds": round(self.seconds, 3),
        }


_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def _file_sha256(path: str) -> str:
    """sha256 of a weights file, computed once per (path, size, mtime) in a process."""
    stat = Path(path).stat()
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_MEMO:
        _SHA_MEMO[key] = file_sha256(path)
    return _SHA_MEMO[key]


def _columns(inputs: Any) -> set[str] | None:
    """The column names of tabular inputs, or None for inputs of other kinds (or no rows to tell by)."""
    if isinstance(inputs, pa.Table):
        return set(inputs.column_names)
    if isinstance(inputs, Sequence) and inputs and isinstance(inputs[0], Mapping):
        return set(inputs[0])
    return None


def reason_label(text: str) -> str:
    """A short counter label for a reason: the text before its first colon."""
    return text.split(":", 1)[0].strip()[:80] or "unknown"


class Stage(ABC, Generic[ConfigT, ItemT]):
    name: ClassVar[str]
    VERSION: ClassVar[int]
    Config: ClassVar[type[StageConfig]]
    table: ClassVar[str]
    input_columns: ClassVar[tuple[str, ...]] = ()
    cpu_bound: ClassVar[bool] = False
    """Decode/encode-heavy work held by the GIL: the default runner runs its shards in worker processes."""
    item_threads: ClassVar[int] = 1
    """Threads a shard's items run on side by side where they run in the flow process (`cpu_bound` stages' go to
    worker processes instead): more than one for items whose work mostly runs outside the GIL (opening and
    probing files: FFmpeg's calls release it); 0: one per core. On a Dask cluster such a stage's items are spread
    over the cluster's threads, as a `cpu_bound` stage's are, not run one after another in one task. The rows are
    the same, in item order."""

    def __init__(self, config: ConfigT):
        if not isinstance(config, self.Config):
            raise TypeError(f"{self.name} needs a {self.Config.__name__}, got {type(config).__name__}")
        self.config = config
        self.stats = StageStats()
        self._ready = False

    @property
    def schema(self) -> pa.Schema:
        return table_spec(self.table).schema

    def setup(self) -> None:
        """Load heavy models; called once per stage instance, before the first item."""

    def weights_sha256(self) -> list[str]:
        """sha256 of every weights file the config names (its `weights_fields`); part of the cache key."""
        out = []
        for field_name in self.config.weights_fields():
            value = getattr(self.config, field_name)
            if value is None:
                continue
            sha = getattr(value, "sha256", None)  # a WeightsRef carries its own
            out.append(sha if isinstance(sha, str) else _file_sha256(str(value)))
        return out

    @abstractmethod
    def items(self, inputs: Any) -> Sequence[ItemT]:
        """Split the stage inputs into work items (a video, a clip, a prompt)."""

    @abstractmethod
    def process(self, item: ItemT) -> Iterable[dict[str, Any]]:
        """Output rows for one item. Raise to turn the item into error rows."""

    @abstractmethod
    def error_rows(self, item: ItemT, reason: str) -> list[dict[str, Any]]:
        """The rows that record `item` as failed with `reason` (identifying columns plus `error`)."""

    def check_inputs(self, inputs: Any) -> None:
        """Fail before any work when tabular inputs (an Arrow table, or rows as mappings) lack a column of
        `input_columns`, naming it. Typed inputs (dataclasses such as ClipRef) are checked by their types."""
        present = _columns(inputs)
        missing = [c for c in self.input_columns if present is not None and c not in present]
        if missing:
            raise ValueError(f"{self.name}: input lacks column(s) {', '.join(missing)} (it reads "
                             f"{', '.join(self.input_columns)})")

    def count_in(self, inputs: Any, items: Sequence[ItemT]) -> int:
        return len(items)

    def identity(self, item: ItemT) -> Any:
        """What one item's rows depend on besides the stage's version, config and weights (JSON-able), when its
        rows depend on nothing else: a shard computed anew then reuses the rows of an item that an earlier
        artifact of the catalog already holds, instead of computing it again. None (the default): not reused."""
        return None

    def cost(self, item: ItemT) -> float:
        """Relative work of one item (a video's pixels to decode, say): runners that spread a shard's items over
        processes start the costliest first, so the last one to finish is short. Only the order depends on it."""
        return 1.0

    def run(self, inputs: Any, progress: ProgressFn | None = None) -> pa.Table:
        """Process every item; an item that raises becomes error rows and the run goes on."""
        start = time.perf_counter()
        items = self.prepare(inputs)
        rows: list[dict[str, Any]] = []
        for done, item in enumerate(items, 1):
            rows.extend(self.item_rows(item))
            if progress:
                progress(done, len(items))
        return self.finish(rows, time.perf_counter() - start)

    def prepare(self, inputs: Any) -> Sequence[ItemT]:
        """The work items of `inputs` (checked first), counted in."""
        self.check_inputs(inputs)
        items = self.items(inputs)
        self.stats.items += len(items)
        self.stats.rows_in += self.count_in(inputs, items)
        return items

    def item_rows(self, item: ItemT) -> list[dict[str, Any]]:
        """One item's rows, or its error rows when it raises (the model set-up, on first use, may raise)."""
        if not self._ready:
            self.setup()
            self._ready = True
        try:
            return list(self.process(item))
        except Exception as exc:  # a bad item is data, not a crash
            return self.error_rows(item, f"{type(exc).__name__}: {exc}"[:500])

    def finish(self, rows: list[dict[str, Any]], seconds: float) -> pa.Table:
        """The output table of the items' rows (in item order), counted out with `seconds` of work."""
        for row in rows:
            if row.get(ERROR):
                self.stats.errors[reason_label(row[ERROR])] += 1
            elif row.get(REJECT_REASON):
                self.stats.rejected[reason_label(row[REJECT_REASON])] += 1
        table = pa.Table.from_pylist(rows, schema=self.schema)
        self.stats.rows_out += table.num_rows
        self.stats.seconds += seconds
        return table


_INSTANCES: dict[tuple[type, str], Stage[Any, Any]] = {}
_INSTANCES_KEPT = 4


def init_worker(threads: int, nice: int = 0) -> None:
    """Set up a worker process of a pool that runs `item_rows`: decoders and OpenCV use `threads` threads (the
    process's share of the cores), and the process runs `nice` steps below its parent's scheduling priority
    (flows/runtime.py `WORKER_NICE`). Lives here, beside `item_rows`, because a worker imports the module of its
    initializer when it starts: this one costs nothing more, where the flows' modules would import Prefect
    (about 2 s per worker)."""
    import cv2

    from physflow.stages.common.video_io import set_decoder_threads

    set_decoder_threads(threads)
    cv2.setNumThreads(threads)
    if nice and hasattr(os, "nice"):
        os.nice(nice)


def cluster_items(stage_cls: type[Stage[Any, Any]], config: StageConfig, items: Sequence[Any], readers: bool = True
                  ) -> list[tuple[list[dict[str, Any]], float]]:
    """On a Dask worker: each item's rows and seconds (`item_rows`), one after another; `readers`: whether they
    decode ahead on reader threads (`item_rows`'s `core_free`). Lives here, as `init_worker` does: a task's
    function is imported where it runs, and the flows' modules would import Prefect into every worker."""
    stop_dask_profiler()
    _cluster_worker_threads()
    return [item_rows(stage_cls, config, item, core_free=readers) for item in items]


@functools.cache
def _cluster_worker_threads() -> None:
    """On a cluster's worker started with a decoder thread budget (`video_io.DECODER_THREADS_ENV`: the local
    clusters of flows/runtime.py `task_runner` give each worker its share of the cores), OpenCV gets the same
    budget, once a process, as the default runner's workers do (`init_worker`): with a thread per core in each
    worker, OpenCV's calls on small working frames ran across the cores the other workers were using."""
    from physflow.stages.common.video_io import DECODER_THREADS_ENV

    threads = int(os.environ.get(DECODER_THREADS_ENV) or 0)
    if threads:
        import cv2

        cv2.setNumThreads(threads)


def stop_dask_profiler() -> None:
    """On a Dask worker under Python 3.11, stop the worker's statistical profiler (once a process; elsewhere
    nothing). Every 10 ms it reads each thread's frame with `sys._current_frames()`, which on 3.11 can deadlock the
    whole worker: a garbage collection run inside that read (which holds the interpreter's thread-list lock) frees
    an object whose finalizer lets go of the GIL, such as an unclosed SQLite connection, and a thread starting or
    ending meanwhile takes the GIL and waits for the list lock (CPython issue 106883; 3.12 does not collect there,
    and later 3.11 releases hold collections off during the read: stopped on every 3.11 all the same). Curation on
    workers of two threads each hung so in two runs of four, for minutes, until the scheduler gave the worker up;
    the export stage starts a decoding thread per clip. Workers started with
    DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False (and the local clusters of flows/runtime.py `task_runner`)
    have none to stop."""
    if _PROFILER_SAFE or "distributed" not in sys.modules:
        return
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not in a Dask worker's task
        return
    profiler = worker.periodic_callbacks.pop("profile", None)
    if profiler is not None:
        worker.loop.add_callback(profiler.stop)  # a periodic callback is stopped on its own event loop
        log.warning("stopped Dask worker %s's profiler: on Python 3.11 it can deadlock the worker (start workers "
                    "with DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False)", worker.address)


_PROFILER_SAFE = sys.version_info >= (3, 12)


def item_rows(stage_cls: type[Stage[Any, Any]], config: StageConfig, item: Any, limit_s: float | None = None,
              core_free: bool = True) -> tuple[list[dict[str, Any]], float]:
    """One item's rows and the seconds they took, from this process's instance of the stage under `config`: a
    worker process that serves many items of a shard sets the stage up once (the last few configs are kept).

    `limit_s` (a worker process's only): past it, the process writes every thread's traceback to its standard
    error and exits, whatever it is doing (a decoder looping inside C code included), and the pool's owner makes
    the item an error row (flows/runtime.py `ItemStopped`). `core_free`: False when other items wait for the
    pool's workers, so every core will be busy: the item decodes in its own thread, not ahead on a reader thread
    (`prefetch.core_free`); the rows are the same."""
    prefetch.core_free(core_free)
    key = (stage_cls, config.model_dump_json())
    stage = _INSTANCES.pop(key, None) or stage_cls(config)
    _INSTANCES[key] = stage  # most recently used last
    while len(_INSTANCES) > _INSTANCES_KEPT:
        _INSTANCES.pop(next(iter(_INSTANCES)))
    start = time.perf_counter()
    if limit_s:
        faulthandler.dump_traceback_later(limit_s, exit=True)
    try:
        rows = stage.item_rows(item)
    finally:
        if limit_s:
            faulthandler.cancel_dump_traceback_later()
    return rows, time.perf_counter() - start
