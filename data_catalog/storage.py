"""The catalog root behind a pyarrow filesystem: local paths by default, object-store URIs the same way.

Every write goes to a temporary name in the destination folder and is then renamed, so a reader
never sees a half-written file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pyarrow.fs as pafs


class Root:
    """A folder (local path or URI such as s3://bucket/prefix) that holds one catalog."""

    def __init__(self, uri: str | os.PathLike[str]):
        text = os.fspath(uri)
        if "://" in text:
            self.fs, self.base = pafs.FileSystem.from_uri(text)
            self.is_local = isinstance(self.fs, pafs.LocalFileSystem)
        else:
            self.fs, self.base, self.is_local = pafs.LocalFileSystem(), str(Path(text).expanduser().resolve()), True
        self.uri = text if not self.is_local else self.base
        self.fs.create_dir(self.base, recursive=True)

    def path(self, *parts: str) -> str:
        return "/".join([self.base.rstrip("/"), *parts])

    def local_path(self, *parts: str) -> Path:
        """A path on this machine; only local roots have one (DuckDB and lock files need it)."""
        if not self.is_local:
            raise ValueError(f"catalog root {self.uri} is not on a local filesystem")
        return Path(self.path(*parts))

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def size(self, path: str) -> int:
        return int(self.fs.get_file_info(path).size or 0)

    def read_bytes(self, path: str) -> bytes:
        with self.fs.open_input_stream(path) as fh:
            return fh.read()

    def write_atomic(self, path: str, write: Callable[[IO[bytes]], None]) -> None:
        """Call `write` on a temporary file beside `path`, then rename it into place."""
        parent = path.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex[:12]}"
        try:
            with self.fs.open_output_stream(tmp) as fh:
                write(fh)
            if self.is_local:
                os.replace(tmp, path)  # atomic on POSIX, also over an existing file
            else:
                self.fs.move(tmp, path)
        except BaseException:
            if self.exists(tmp):
                self.fs.delete_file(tmp)
            raise

    def write_bytes_atomic(self, path: str, data: bytes) -> None:
        self.write_atomic(path, lambda fh: fh.write(data))

    def listdir(self, folder: str, suffix: str = "") -> Iterator[str]:
        selector = pafs.FileSelector(folder, allow_not_found=True, recursive=False)
        for info in self.fs.get_file_info(selector):
            if info.type == pafs.FileType.File and info.path.endswith(suffix):
                yield info.path
