"""Content fingerprints of files, remembered by (path, size, mtime) so a warm run reads no file.

The fingerprint is always the sha256 of the bytes; (path, size, mtime_ns) only decides whether a
remembered sha256 can be reused, as git's index does. Stored in SQLite (WAL) beside the catalog so
several processes can share it. Input videos, artifacts and blobs all go through it: an artifact whose
(path, size, mtime) was verified before is trusted without reading it again. On a read-only catalog the
memory lasts as long as the process.

A file in the cache's own folder (the catalog's artifacts and blobs, beside which the cache lies) is remembered
by its path relative to that folder, so a catalog copied or moved elsewhere (`cp -a`, `rsync -a`: sizes and
mtimes kept) keeps its fingerprints: remembered by absolute path, the first seal after a change there hashed every
artifact and blob again. A path from before (absolute) is still found where the catalog has not moved.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from physflow.data_catalog.keys import file_sha256

FINGERPRINTS_FILE = "fingerprints.sqlite"
HERE = "./"
"""How a remembered path relative to the cache's folder starts (an absolute path starts with "/", a URL with its
scheme)."""
HASH_THREADS = 8
"""Files hashed at once at most: reading and hashing let go of the GIL, so several files hash on several cores
(49 MB of videos in the page cache: 1.2 GB/s on one thread, 1.9 GB/s on two, on this project's 2-core machine),
until the disk is what limits."""


def real_paths(paths: list[str | os.PathLike[str]]) -> list[str]:
    """Each path absolute, every symbolic link on the way resolved (as `Path.resolve`), with one `lstat` a file:
    a folder's real path is found once for all the files in it (a folder of 4,000 videos: 10 ms against 120)."""
    folders: dict[str, str] = {}
    out = []
    for path in map(os.fspath, paths):
        head, name = os.path.split(path)
        if name in ("", ".", "..") or os.path.islink(path):
            out.append(str(Path(path).resolve()))
            continue
        real = folders.get(head)
        if real is None:
            real = folders[head] = str(Path(head or ".").resolve())
        out.append(os.path.join(real, name))
    return out


def hash_files(paths: list[str]) -> list[str]:
    """sha256 of each file, in order; on threads when there are several (a cold run's inputs, a seal's files)."""
    threads = min(len(paths), HASH_THREADS, os.cpu_count() or 1)
    if threads < 2:
        return [file_sha256(path) for path in paths]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="physflow-hash") as pool:
        return list(pool.map(file_sha256, paths))


def _moved(path: str, before: os.stat_result) -> bool:
    """Whether the file at `path` is no longer as `before` found it (size, modification time), or is gone."""
    try:
        after = os.stat(path)
    except OSError:
        return True
    return (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)


class FingerprintCache:
    def __init__(self, db_path: str | os.PathLike[str]):
        self.db_path = Path(db_path)
        self.hashed = 0  # files read in full by this instance (0 on a warm run)
        self.moving: set[str] = set()  # files (as `many` was given them) whose size or mtime moved while read
        self.memory: dict[tuple[str, int, int], str] | None = None  # used when the database cannot be written
        self._home = ""  # the cache's folder, as files' real paths start with it
        try:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self._home = str(self.db_path.parent.resolve()).rstrip("/") + "/"
            with self._connect() as con:
                con.execute("PRAGMA journal_mode=WAL")
                con.execute(
                    "CREATE TABLE IF NOT EXISTS fingerprints "
                    "(path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT)"
                )
        except (OSError, sqlite3.Error):
            self.memory = {}

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for the block, committed (or rolled back) and closed at its end. Closed here, not left
        to the garbage collector: on Python 3.11 a connection is in a reference cycle with its statement cache,
        so only a collection frees it, and freeing it lets go of the GIL mid-collection, which can deadlock a
        thread that reads other threads' frames (`stages.base.stop_dask_profiler`)."""
        con = sqlite3.connect(self.db_path, timeout=60)
        try:
            with con:
                yield con
        finally:
            con.close()

    def sha256(self, path: str | os.PathLike[str]) -> str:
        return self.many([path])[0]

    def many(self, paths: list[str | os.PathLike[str]]) -> list[str]:
        """sha256 of each file, hashing only files that are new or changed since last seen. A file whose size or
        modification time moved while it was read (still being written: a copy into an inbox) is not remembered,
        and is added to `moving`: its sha256 is of bytes that never were the file's whole content."""
        stats = [(path, os.stat(path)) for path in real_paths(paths)]
        known = self._known([(self._key(path), st.st_size, st.st_mtime_ns) for path, st in stats])
        todo = [i for i, sha in enumerate(known) if sha is None]
        hashed = dict(zip(todo, hash_files([stats[i][0] for i in todo]), strict=True))
        self.hashed += len(todo)
        moved = {i for i in todo if _moved(*stats[i])}
        self.moving.update(os.fspath(paths[i]) for i in moved)
        self._store([(self._key(stats[i][0]), stats[i][1].st_size, stats[i][1].st_mtime_ns, sha)
                     for i, sha in hashed.items() if i not in moved])
        return [sha if sha is not None else hashed[i] for i, sha in enumerate(known)]

    def remember(self, path: str | os.PathLike[str], sha256: str) -> None:
        """Record that the file now at `path` has content `sha256` (just written or checked by the caller)."""
        resolved = str(Path(path).resolve())
        st = os.stat(resolved)
        self._store([(self._key(resolved), st.st_size, st.st_mtime_ns, sha256)])

    def _key(self, path: str) -> str:
        """How the file at real path `path` is remembered: relative to the cache's folder when inside it."""
        return HERE + path[len(self._home):] if self._home and path.startswith(self._home) else path

    def _absolute(self, key: str) -> str | None:
        """The absolute path a relative key was remembered by before keys were relative (None for other keys)."""
        return self._home + key[len(HERE):] if key.startswith(HERE) else None

    def recall(self, name: str, size: int, mtime_ns: int) -> str | None:
        """The sha256 remembered for the file `name` (a path or URL, taken as it is) at this size and mtime."""
        return self._known([(name, size, mtime_ns)])[0]

    def record(self, name: str, size: int, mtime_ns: int, sha256: str) -> None:
        """Remember that the file `name` (a path or URL, taken as it is) at this size and mtime has `sha256`."""
        self._store([(name, size, mtime_ns, sha256)])

    def known(self, base: str, files: dict[str, tuple[int, int]]) -> dict[str, str]:
        """The remembered sha256 of each file under folder `base` (path relative to it -> (size, mtime_ns)) whose
        size and mtime are those remembered; read in one query, for checking a folder of the catalog at once."""
        prefix = self._key(str(Path(base).resolve()).rstrip("/") + "/")
        out: dict[str, str] = {}
        for start in (prefix, self._absolute(prefix)):  # remembered as now, then as before keys were relative
            if start is None:
                continue
            if self.memory is not None:
                rows = [(p, s, m, sha) for (p, s, m), sha in self.memory.items() if p.startswith(start)]
            else:
                with self._connect() as con:
                    # The paths under the folder: a range of the primary key ("/" + 1 is "0"), read from its index.
                    rows = con.execute("SELECT path, size, mtime_ns, sha256 FROM fingerprints "
                                       "WHERE path >= ? AND path < ?", (start, start[:-1] + "0")).fetchall()
            found = {}
            for path, size, mtime, sha in rows:
                rel = path[len(start):]
                if rel not in out and files.get(rel) == (size, mtime):
                    found[rel] = sha
            out.update(found)
            if start != prefix:  # remembered relative from now on: found where the catalog is copied
                self._store([(prefix + rel, *files[rel], sha) for rel, sha in found.items()])
            if len(out) == len(files):
                break
        return out

    def _known(self, keys: list[tuple[str, int, int]]) -> list[str | None]:
        """The sha256 remembered for each (key, size, mtime), a relative key's also by its absolute path."""
        if not keys:
            return []
        if self.memory is not None:
            return [self.memory.get(k) for k in keys]
        query = "SELECT sha256 FROM fingerprints WHERE path = ? AND size = ? AND mtime_ns = ?"
        found, moved = [], []
        with self._connect() as con:
            for key, size, mtime in keys:
                row = con.execute(query, (key, size, mtime)).fetchone()
                before = self._absolute(key) if row is None else None
                if before is not None:
                    row = con.execute(query, (before, size, mtime)).fetchone()
                    if row:
                        moved.append((key, size, mtime, row[0]))
                found.append(row[0] if row else None)
        self._store(moved)  # remembered relative from now on: found where the catalog is copied
        return found

    def _store(self, fresh: list[tuple[str, int, int, str]]) -> None:
        if not fresh:
            return
        if self.memory is None:
            try:
                with self._connect() as con:
                    con.executemany("INSERT OR REPLACE INTO fingerprints VALUES (?,?,?,?)", fresh)
                return
            except sqlite3.OperationalError:  # the catalog became read-only: remember in memory from now on
                self.memory = {}
        self.memory.update({(p, s, m): sha for p, s, m, sha in fresh})
