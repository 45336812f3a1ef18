"""Integrity of stored files: size and sha256 against what the catalog recorded, and a quarantine for the damaged.

A file is read in full only when it was not verified since it last changed: a verified sha256 is remembered
by (path, size, mtime) in the fingerprint cache, as input videos are (`fingerprints.py`); for an object store
by (URL, size, modification time) in the cache kept with the catalog's registry on this machine. A deep check
(`physflow catalog verify`) hashes every file again, which also finds bit rot that left the mtime alone.

A damaged file is moved to `quarantine/<time>-<id>/<its catalog-relative path>` with a `.reason.json` beside
it, never deleted: an operator can look at it, and the stage that wrote it recomputes it on its next run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow.fs as pafs

from physflow.data_catalog.fingerprints import FINGERPRINTS_FILE, FingerprintCache
from physflow.data_catalog.storage import Root

QUARANTINE_DIR = "quarantine"
REASON_SUFFIX = ".reason.json"

_VERIFIED: dict[tuple[str, int, int], str] = {}
"""(path, size, mtime_ns) -> sha256 verified by this process: the same check again costs one stat call."""

VERIFIED_LIMIT = 40_000
"""Files this process remembers as verified, at most (about 14 MiB): past it the older half is forgotten, so a
long run's memory does not grow with the files it has seen. A check of a forgotten file looks its sha256 up in
the fingerprint cache (one SQLite read), where every verified file is remembered; it reads the file only if that
changed."""


def vouch(verified: dict[tuple[str, int, int], str]) -> None:
    """Remember files as verified by this process ((path, size, mtime_ns) -> sha256), as the catalog's seal
    proves them: each later check of one costs one stat call."""
    _VERIFIED.update(verified)
    _bound()


def _verified(stamp: tuple[str, int, int], sha256: str) -> None:
    _VERIFIED[stamp] = sha256
    _bound()


def _bound() -> None:
    """Forget the older files past `VERIFIED_LIMIT`, down to half of it (insertion order: oldest first)."""
    excess = len(_VERIFIED) - VERIFIED_LIMIT
    if excess > 0:
        for stamp in list(itertools.islice(_VERIFIED, excess + VERIFIED_LIMIT // 2)):
            del _VERIFIED[stamp]


class DamagedFileError(RuntimeError):
    """A file of the catalog differs from its record; it was quarantined when the catalog is writable."""


class FileChecker:
    """Checks files of one root against an expected size and sha256, remembering what it verified."""

    def __init__(self, root: Root):
        self.root = root
        self._cache: FingerprintCache | None = None

    @property
    def cache(self) -> FingerprintCache:
        """The catalog's fingerprint cache, opened on first use (beside the registry for an object store)."""
        if self._cache is None:
            self._cache = FingerprintCache(self.root.local_path(FINGERPRINTS_FILE))
        return self._cache

    def problem(self, path: str, size: int | None, sha256: str, deep: bool = False) -> str | None:
        """Why the file at `path` is not the one recorded (None: it is): missing, size, or content."""
        info = self.root.fs.get_file_info(path)
        if info.type == pafs.FileType.NotFound:
            return "file missing"
        if size is not None and info.size != size:
            return f"size {info.size} bytes, recorded {size}"
        stamp = (path, int(info.size or 0), int(info.mtime_ns or 0))
        if not deep and _VERIFIED.get(stamp) == sha256:
            return None
        if not deep and not self.root.is_local and self.cache.recall(self.root.url(path), *stamp[1:]) == sha256:
            _verified(stamp, sha256)
            return None
        actual = self._sha256(path, deep)
        if actual != sha256:
            return f"sha256 {actual[:16]}..., recorded {sha256[:16]}..."
        _verified(stamp, sha256)
        return None

    def remember(self, path: str, sha256: str) -> None:
        """Record a file this process has just written (its sha256 is known), so its first check reads nothing."""
        if self.root.is_local:
            self.cache.remember(path, sha256)
        else:
            self._record(path, sha256)

    def _sha256(self, path: str, deep: bool) -> str:
        if self.root.is_local and not deep:
            return self.cache.sha256(path)
        digest = hashlib.sha256()
        with self.root.fs.open_input_stream(path) as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        if self.root.is_local:
            self.cache.remember(path, digest.hexdigest())
        else:
            self._record(path, digest.hexdigest())
        return digest.hexdigest()

    def _record(self, path: str, sha256: str) -> None:
        """Remember an object-store file's sha256 by its URL, size and modification time."""
        info = self.root.fs.get_file_info(path)
        self.cache.record(self.root.url(path), int(info.size or 0), int(info.mtime_ns or 0), sha256)


class Quarantine:
    """Moves damaged or orphaned files of a root aside, each with the reason it was moved."""

    def __init__(self, root: Root):
        self.root = root

    def move(self, path: str, reason: str) -> str:
        """Move `path` into the quarantine; returns its new location."""
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        relative = self.root.relative(path).lstrip("/")
        dest = self.root.path(QUARANTINE_DIR, stamp, relative)
        self.root.move(path, dest)
        record = {"path": relative, "reason": reason, "at": datetime.now(UTC).isoformat()}
        self.root.write_bytes_atomic(dest + REASON_SUFFIX, json.dumps(record, indent=1).encode())
        return dest

    def entries(self) -> list[dict[str, Any]]:
        """Every quarantined file's record (path, reason, time), oldest first."""
        selector = pafs.FileSelector(self.root.path(QUARANTINE_DIR), allow_not_found=True, recursive=True)
        records = [json.loads(self.root.read_bytes(info.path)) for info in self.root.fs.get_file_info(selector)
                   if info.type == pafs.FileType.File and info.path.endswith(REASON_SUFFIX)]
        return sorted(records, key=lambda r: r["at"])
