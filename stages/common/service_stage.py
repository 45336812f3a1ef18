"""What the stages that call a model service per item (caption, physics_context) share: items in batches, the
per-item cache closed after the run, and one error for the items the service failed, so the shard is not stored
and a re-run retries only those (the cache keeps the answers already paid for)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from physflow.stages.base import ProgressFn


class ServiceBatches:
    """Mixin before `Stage[...]`: subclasses set `cache` in setup (None or an object with `close()`), collect
    service failures in `_service_errors` under `_lock` (request threads share them), and name `service_error`
    (the exception raised) and `item_noun`."""

    service_error: type[Exception] = RuntimeError
    item_noun = "item(s)"

    def __init__(self, config: Any):
        super().__init__(config)  # type: ignore[call-arg]
        self.cache: Any = None
        self._service_errors: list[str] = []
        self._lock = threading.Lock()

    def batch_size(self) -> int:
        return 16

    def items(self, inputs: Sequence[Any]) -> Sequence[list[Any]]:
        records, size = list(inputs), self.batch_size()
        return [records[i:i + size] for i in range(0, len(records), size)]

    def count_in(self, inputs: Any, items: Sequence[list[Any]]) -> int:
        return sum(len(batch) for batch in items)

    def run(self, inputs: Any, progress: ProgressFn | None = None) -> pa.Table:
        try:
            table = super().run(inputs, progress)  # type: ignore[misc]
        finally:
            if self.cache is not None:
                self.cache.close()
                self.cache = None
        if self._service_errors:
            raise self.service_error(
                f"{len(self._service_errors)} {self.item_noun} failed on the model service; the shard is not stored, "
                f"re-run to retry them. First: {self._service_errors[0]}")
        return table
