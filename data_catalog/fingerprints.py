"""Content fingerprints of input files, remembered by (path, size, mtime) so a warm run reads no file.

The fingerprint is always the sha256 of the bytes; (path, size, mtime_ns) only decides whether a
remembered sha256 can be reused, as git's index does. Stored in SQLite (WAL) beside the catalog so
several processes can share it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from physflow.data_catalog.keys import file_sha256

FINGERPRINTS_FILE = "fingerprints.sqlite"


class FingerprintCache:
    def __init__(self, db_path: str | os.PathLike[str]):
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self.hashed = 0  # files read in full by this instance (0 on a warm run)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(
                "CREATE TABLE IF NOT EXISTS fingerprints "
                "(path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path, timeout=60)

    def sha256(self, path: str | os.PathLike[str]) -> str:
        return self.many([path])[0]

    def many(self, paths: list[str | os.PathLike[str]]) -> list[str]:
        """sha256 of each file, hashing only files that are new or changed since last seen."""
        out: list[str] = []
        fresh: list[tuple[str, int, int, str]] = []
        with self._connect() as con:
            for p in paths:
                path = str(Path(p).resolve())
                st = os.stat(path)
                row = con.execute(
                    "SELECT sha256 FROM fingerprints WHERE path = ? AND size = ? AND mtime_ns = ?",
                    (path, st.st_size, st.st_mtime_ns),
                ).fetchone()
                if row:
                    out.append(row[0])
                    continue
                sha = file_sha256(path)
                self.hashed += 1
                fresh.append((path, st.st_size, st.st_mtime_ns, sha))
                out.append(sha)
            con.executemany("INSERT OR REPLACE INTO fingerprints VALUES (?,?,?,?)", fresh)
        return out
