"""The item journal: the rows of a shard's finished items until its artifact is written, so that a run killed
mid-shard resumes from the items it finished, not from the shard's first.

A shard's artifact is written when its last item is done. Under the default runner the worker processes take the
costliest waiting item of every shard in flight, so a run killed halfway through a stage has finished many items
of shards it never completed: a curation of 120 videos killed at 30% of its time had finished no analysis shard,
and its re-run analysed all 120 videos again (benchmarks/curate_resume.py). While a shard runs, the rows of its
finished items are added here, keyed as artifacts' items are (stage, recipe: the stage's version, config and
weights, and the content key of the item's identity). A later run's shard holding such an item under the same
recipe takes its rows from here instead of computing it; once the shard's artifact is written, the artifact holds
them and they leave the journal. Rows recording an error are not kept: such an item is computed again, as it is
when reused from an artifact.

One SQLite file (WAL) beside the registry, shared by every process of the catalog; rows as the Arrow IPC stream
of the stage's table. It only saves work: a journal that cannot be read or written is passed over. Rows left by
a run that was never resumed are dropped after `STALE_DAYS`.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

JOURNAL_FILE = "items.sqlite"
STALE_DAYS = 30.0

log = logging.getLogger("physflow.journal")


class ItemJournal:
    """Finished items' rows, as Arrow IPC bytes, in the SQLite file at `path` (made at the first `add`)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._pruned = False

    def exists(self) -> bool:
        return self.path.exists()

    def add(self, stage: str, recipe: str, rows: dict[str, bytes]) -> None:
        """Keep each item's rows (item key -> Arrow IPC bytes) under `stage` and `recipe`."""
        if not rows:
            return
        now = time.time()
        try:
            with self._connect(create=True) as con:
                if not self._pruned:  # rows of runs never resumed
                    con.execute("DELETE FROM items WHERE added < ?", (now - STALE_DAYS * 86400,))
                    self._pruned = True
                con.executemany("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?)",
                                [(stage, recipe, item, data, now) for item, data in rows.items()])
        except (OSError, sqlite3.Error) as exc:  # a read-only catalog, a full disk: the run goes on without it
            log.debug("item journal %s not written: %s", self.path, exc)

    def rows(self, stage: str, recipe: str, items: Sequence[str]) -> dict[str, bytes]:
        """The kept rows of those of `items` the journal holds under `stage` and `recipe`."""
        return dict(self._select("item, rows", stage, recipe, items))

    def known(self, stage: str, recipe: str, items: Sequence[str]) -> set[str]:
        """Those of `items` whose rows the journal holds under `stage` and `recipe`."""
        return {item for (item,) in self._select("item", stage, recipe, items)}

    def forget(self, stage: str, recipe: str, items: Sequence[str]) -> None:
        """Drop the rows of `items` (an artifact written holds them now)."""
        if not items or not self.exists():
            return
        try:
            with self._connect() as con:
                con.executemany("DELETE FROM items WHERE stage = ? AND recipe = ? AND item = ?",
                                [(stage, recipe, item) for item in items])
        except (OSError, sqlite3.Error) as exc:
            log.debug("item journal %s not written: %s", self.path, exc)

    def _select(self, columns: str, stage: str, recipe: str, items: Sequence[str]) -> list[tuple[object, ...]]:
        if not items or not self.exists():
            return []
        out: list[tuple[object, ...]] = []
        try:
            with self._connect() as con:
                for start in range(0, len(items), 500):
                    chunk = list(items[start:start + 500])
                    marks = ",".join("?" * len(chunk))
                    out += con.execute(f"SELECT {columns} FROM items WHERE stage = ? AND recipe = ? "
                                       f"AND item IN ({marks})", [stage, recipe, *chunk]).fetchall()
        except (OSError, sqlite3.Error) as exc:
            log.debug("item journal %s not read: %s", self.path, exc)
            return []
        return out

    @contextlib.contextmanager
    def _connect(self, create: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection for the block, committed (or rolled back) and closed at its end (closed here: on Python
        3.11 only a garbage collection would free it, see `fingerprints.FingerprintCache._connect`)."""
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=60)
        try:
            with con:
                if create:
                    con.execute("PRAGMA journal_mode=WAL")
                    con.execute("CREATE TABLE IF NOT EXISTS items (stage TEXT, recipe TEXT, item TEXT, rows BLOB, "
                                "added REAL, PRIMARY KEY (stage, recipe, item))")
                con.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash of the process loses nothing committed
                yield con
        finally:
            con.close()
