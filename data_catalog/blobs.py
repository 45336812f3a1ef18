"""The blob store: large arrays and media files addressed by sha256, `blobs/<sha[:2]>/<sha>.<ext>`.

Tables store a blob as its catalog-relative reference (`blobs/ab/ab12....mp4`, see `BlobStore.ref`), never as
a path under one catalog root: the same content gives the same rows in any catalog, wherever it lives and
whichever process wrote it. The catalog's table views resolve references to locations under their root
(`resolve_sql`); code holding a row from an artifact resolves with `BlobStore.resolve`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from physflow.data_catalog.keys import file_sha256
from physflow.data_catalog.storage import Root

BLOBS_DIR = "blobs"
REF_PREFIX = f"{BLOBS_DIR}/"


def is_ref(uri: str | None) -> bool:
    """Whether `uri` is a catalog-relative blob reference (rather than a path or URI of its own)."""
    return bool(uri) and uri.startswith(REF_PREFIX)  # type: ignore[union-attr]


def resolve_sql(column: str, root_prefix: str) -> str:
    """SQL for `column` with blob references resolved under `root_prefix` (the root's path ending in '/')."""
    prefix = "'" + root_prefix.replace("'", "''") + "'"
    return f"CASE WHEN starts_with({column}, '{REF_PREFIX}') THEN {prefix} || {column} ELSE {column} END"


class BlobStore:
    def __init__(self, root: Root):
        self.root = root

    def path(self, sha256: str, ext: str) -> str:
        return self.root.path(BLOBS_DIR, sha256[:2], f"{sha256}.{ext.lstrip('.')}")

    def put_bytes(self, data: bytes, ext: str) -> tuple[str, str]:
        """Store `data`; returns (uri, sha256). Storing the same bytes twice writes once."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.path(sha, ext)
        if not self.root.exists(path):
            self.root.write_bytes_atomic(path, data)
        return path, sha

    def put_file(self, local_path: str | os.PathLike[str], ext: str | None = None) -> tuple[str, str]:
        """Store a local file by content; returns (uri, sha256)."""
        src = Path(local_path)
        sha = file_sha256(src)
        path = self.path(sha, ext or src.suffix.lstrip(".") or "bin")
        if not self.root.exists(path):
            def copy(fh):  # type: ignore[no-untyped-def]
                with open(src, "rb") as inp:
                    while chunk := inp.read(1 << 20):
                        fh.write(chunk)
            self.root.write_atomic(path, copy)
        return path, sha

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
        return self.root.read_bytes(self.resolve(uri))
