"""The blob store: large arrays and media files addressed by sha256, `blobs/<sha[:2]>/<sha>.<ext>`.

Tables store a blob as its catalog-relative reference (`blobs/ab/ab12....mp4`, see `BlobStore.ref`), never as
a path under one catalog root: the same content gives the same rows in any catalog, wherever it lives and
whichever process wrote it. The catalog's table views resolve references to locations under their root
(`resolve_sql`); code holding a row from an artifact resolves with `BlobStore.resolve`.

A blob's name is its sha256, so a blob is checked against its own name: `read_bytes` and `verified_path`
check it (reading it in full only when it changed since last verified) and quarantine a damaged one;
storing bytes whose blob exists but is damaged replaces it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from physflow.data_catalog.integrity import DamagedFileError, FileChecker, Quarantine
from physflow.data_catalog.keys import file_sha256
from physflow.data_catalog.storage import Root

BLOBS_DIR = "blobs"
REF_PREFIX = f"{BLOBS_DIR}/"


def is_ref(uri: str | None) -> bool:
    """Whether `uri` is a catalog-relative blob reference (rather than a path or URI of its own)."""
    return bool(uri) and uri.startswith(REF_PREFIX)  # type: ignore[union-attr]


def sql_string(text: str) -> str:
    """`text` as an SQL string literal (quotes doubled), for statements that take no parameters (views, ATTACH)."""
    return "'" + text.replace("'", "''") + "'"


def resolve_sql(column: str, root_prefix: str, suffix: str = "") -> str:
    """SQL for `column` with blob references resolved under `root_prefix` (the root's path ending in '/'), with
    `suffix` after each (an object store's query)."""
    prefix = sql_string(root_prefix)
    tail = f" || {sql_string(suffix)}" if suffix else ""
    return f"CASE WHEN starts_with({column}, '{REF_PREFIX}') THEN {prefix} || {column}{tail} ELSE {column} END"


class BlobStore:
    def __init__(self, root: Root, checker: FileChecker | None = None):
        self.root = root
        self._checker = checker

    @property
    def checker(self) -> FileChecker:
        if self._checker is None:  # made on first use: most stages only write blobs
            self._checker = FileChecker(self.root)
        return self._checker

    def path(self, sha256: str, ext: str) -> str:
        return self.root.path(BLOBS_DIR, sha256[:2], f"{sha256}.{ext.lstrip('.')}")

    def put_bytes(self, data: bytes, ext: str) -> tuple[str, str]:
        """Store `data`; returns (uri, sha256). Storing the same bytes twice writes once."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.path(sha, ext)
        if not self._present(path, sha):
            self.root.write_bytes_atomic(path, data)
            self.checker.remember(path, sha)
        return path, sha

    def put_file(self, local_path: str | os.PathLike[str], ext: str | None = None) -> tuple[str, str]:
        """Store a local file by content; returns (uri, sha256)."""
        src = Path(local_path)
        sha = file_sha256(src)
        path = self.path(sha, ext or src.suffix.lstrip(".") or "bin")
        if not self._present(path, sha):
            def copy(fh):  # type: ignore[no-untyped-def]
                with open(src, "rb") as inp:
                    while chunk := inp.read(1 << 20):
                        fh.write(chunk)
            self.root.write_atomic(path, copy)
            self.checker.remember(path, sha)
        return path, sha

    def _present(self, path: str, sha: str) -> bool:
        """Whether an intact copy of blob `sha` is at `path`; a damaged one is quarantined (and rewritten)."""
        if not self.root.exists(path):
            return False
        reason = self.checker.problem(path, None, sha)
        if reason is not None:
            Quarantine(self.root).move(path, f"blob {reason}")
        return reason is None

    def ref(self, uri: str) -> str:
        """The catalog-relative reference of a blob of this store (what tables hold), from its location."""
        prefix = self.root.path(REF_PREFIX)
        if not uri.startswith(prefix):
            raise ValueError(f"{uri} is not a blob of the store under {self.root.uri}")
        return REF_PREFIX + uri[len(prefix):]

    def resolve(self, uri: str) -> str:
        """The location of a blob reference under this root; any other path or URI is returned as it is."""
        return self.root.path(uri) if is_ref(uri) else uri

    def resolve_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """`row` (e.g. read from an artifact) with the blob references of its `*uri` columns resolved."""
        return {k: self.resolve(v) if k.endswith("uri") and isinstance(v, str) else v for k, v in row.items()}

    def read_bytes(self, uri: str) -> bytes:
        """The bytes of a blob (checked against its name first) or of any other path or URI."""
        return self.root.read_bytes(self.verified_path(uri))

    def verified_path(self, uri: str) -> str:
        """The location of `uri` (as `resolve`), after checking it when it is a blob of this store: a damaged
        blob is quarantined and raises `DamagedFileError`; the stage that wrote it recomputes it next run."""
        path = self.resolve(uri)
        reason = self.problem(uri)
        if reason is not None:
            self.quarantine(uri, reason)
            raise DamagedFileError(f"blob {uri} under {self.root.uri}: {reason}; it was moved to quarantine and "
                                   "is written again when the stage that made it runs next")
        return path

    def expected_sha256(self, uri: str) -> str | None:
        """The sha256 a blob of this store must have (its file name), or None for other paths."""
        path = self.resolve(uri)
        if not path.startswith(self.root.path(REF_PREFIX)):
            return None
        return path.rsplit("/", 1)[-1].split(".", 1)[0]

    def problem(self, uri: str, deep: bool = False) -> str | None:
        """Why the blob `uri` is not usable (missing, or content not matching its name); None when it is, or
        when `uri` is not a blob of this store."""
        sha = self.expected_sha256(uri)
        return None if sha is None else self.checker.problem(self.resolve(uri), None, sha, deep)

    def quarantine(self, uri: str, reason: str) -> None:
        path = self.resolve(uri)
        if self.root.exists(path):
            Quarantine(self.root).move(path, f"blob {reason}")
