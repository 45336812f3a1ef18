"""Per-item answer cache of the model-backed stages (caption, physics_context): a SQLite file of text values keyed
by request hash, so a shard that was interrupted or failed on a service outage resumes without paying again for
the answers it already got. Only good answers are stored; safe to share between the stage's threads."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class TextCache:
    """key -> text in table `table` (columns `key`, `column`) of the SQLite file at `path`."""

    def __init__(self, path: str | Path, table: str, column: str):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._table, self._column = table, column
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=60.0, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, {column} TEXT NOT NULL)")
            self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT key, {self._column} FROM {self._table} WHERE key IN ({marks})"
                out.update((str(k), str(v)) for k, v in self._db.execute(sql, chunk))
        return out

    def get(self, key: str) -> str | None:
        return self.get_many([key]).get(key)

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(f"INSERT OR REPLACE INTO {self._table} VALUES (?, ?)", (key, value))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute(f"SELECT count(*) FROM {self._table}").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
