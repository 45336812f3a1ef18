"""The blob store: large arrays and media files addressed by sha256, `blobs/<sha[:2]>/<sha>.<ext>`."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from data_catalog.keys import file_sha256
from data_catalog.storage import Root

BLOBS_DIR = "blobs"


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

    def read_bytes(self, uri: str) -> bytes:
        return self.root.read_bytes(uri)
