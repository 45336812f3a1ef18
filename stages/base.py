"""The stage contract (DESIGN §4) and the bookkeeping every stage shares.

A stage subclass declares `name`, `VERSION`, `Config`, the `table` it writes and the `input_columns`
it reads, and implements `items` (split the inputs into work items) and `process` (one item to output
rows). `Stage.run` does the rest once for all stages: lazy model set-up, progress, timing, turning an
item's exception into an error row, counters of rows in/out and rejects by reason, and conforming
rows to the output schema.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from physflow.data_catalog.schemas import ERROR, REJECT_REASON, table_spec

ProgressFn = Callable[[int, int], None]
"""Called with (items done, items total) as a stage works."""


class StageConfig(BaseModel):
    """Base of every stage config: frozen, unknown fields rejected, every field typed and bounded."""

    model_config = ConfigDict(frozen=True, extra="forbid")


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
        """sha256 of every weights file this config uses; part of the cache key."""
        return []

    @abstractmethod
    def items(self, inputs: Any) -> Sequence[ItemT]:
        """Split the stage inputs into work items (a video, a clip, a prompt)."""

    @abstractmethod
    def process(self, item: ItemT) -> Iterable[dict[str, Any]]:
        """Output rows for one item. Raise to turn the item into error rows."""

    @abstractmethod
    def error_rows(self, item: ItemT, reason: str) -> list[dict[str, Any]]:
        """The rows that record `item` as failed with `reason` (identifying columns plus `error`)."""

    def count_in(self, inputs: Any, items: Sequence[ItemT]) -> int:
        return len(items)

    def run(self, inputs: Any, progress: ProgressFn | None = None) -> pa.Table:
        """Process every item; an item that raises becomes error rows and the run goes on."""
        start = time.perf_counter()
        items = self.items(inputs)
        self.stats.items += len(items)
        self.stats.rows_in += self.count_in(inputs, items)
        if items and not self._ready:
            self.setup()
            self._ready = True
        rows: list[dict[str, Any]] = []
        for done, item in enumerate(items, 1):
            try:
                produced = list(self.process(item))
            except Exception as exc:  # a bad item is data, not a crash
                produced = self.error_rows(item, f"{type(exc).__name__}: {exc}"[:500])
            rows.extend(produced)
            if progress:
                progress(done, len(items))
        for row in rows:
            if row.get(ERROR):
                self.stats.errors[reason_label(row[ERROR])] += 1
            elif row.get(REJECT_REASON):
                self.stats.rejected[reason_label(row[REJECT_REASON])] += 1
        table = pa.Table.from_pylist(rows, schema=self.schema)
        self.stats.rows_out += table.num_rows
        self.stats.seconds += time.perf_counter() - start
        return table
