"""Per-item caption cache: a SQLite file of captions keyed by request hash, so an interrupted or failed
shard resumes without paying again for the captions it already got. Only good captions are kept."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class CaptionCache:
    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=60.0, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS captions (key TEXT PRIMARY KEY, caption TEXT NOT NULL)")
            self._db.commit()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT caption FROM captions WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, caption: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO captions VALUES (?, ?)", (key, caption))
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()
