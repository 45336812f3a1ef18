"""Per-item answer cache: a SQLite file of validated contexts keyed by prompt hash.

The stage's artifacts are cached per shard; this cache lets a shard that was interrupted, or that
failed on a service outage, resume without paying again for the answers it already got. Only valid
answers are kept; errors are retried on the next run.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from physflow.data_catalog.keys import canonical_json, sha256_text
from physflow.stages.physics_context.schema import PhysicsContext


def item_key(backend: str, model: str, template: str, text: str, sampling: dict[str, object]) -> str:
    """sha256 of (backend, model, prompt template version, input text, sampling settings)."""
    return sha256_text(canonical_json({"backend": backend, "model": model, "template": template, "text": text,
                                       "sampling": sampling}))


class ItemCache:
    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), timeout=60.0, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, context TEXT NOT NULL)")
            self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, PhysicsContext]:
        out: dict[str, PhysicsContext] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for key, text in self._db.execute(f"SELECT key, context FROM answers WHERE key IN ({marks})", chunk):
                    out[key] = PhysicsContext.model_validate_json(text)
        return out

    def put(self, key: str, context: PhysicsContext) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?)", (key, context.model_dump_json()))
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
