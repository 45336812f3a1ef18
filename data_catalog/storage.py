"""The catalog root behind a pyarrow filesystem: local paths by default, object-store URIs the same way.

Every write goes to a temporary name in the destination folder (`<name>.tmp-<random>`) and is then renamed,
so a reader never sees a half-written file. A failed write (disk full, no permission) removes its temporary
file and raises `StorageWriteError` naming the file and the cause.
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pyarrow.fs as pafs

TEMP_MARK = ".tmp-"
"""Infix of temporary files: `<final name>.tmp-<random>`; one left behind is a stale temp file."""

_HINTS = {
    errno.ENOSPC: "the disk is full; free space and run again",
    errno.EDQUOT: "the disk quota is used up; free space and run again",
    errno.EACCES: "permission denied; make the catalog folder writable for this user",
    errno.EPERM: "operation not permitted; make the catalog folder writable for this user",
    errno.EROFS: "the catalog is on a read-only file system; open a writable copy to write",
}


class StorageWriteError(OSError):
    """Writing a file of the catalog failed; nothing was left at the destination."""


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

    def relative(self, path: str) -> str:
        """`path` relative to this root (what manifests and the registry store); other paths as they are."""
        prefix = self.base.rstrip("/") + "/"
        return path[len(prefix):] if path.startswith(prefix) else path

    def locate(self, path: str) -> str:
        """The location of a catalog-relative `path` under this root; absolute paths and URIs as they are."""
        return path if path.startswith("/") or "://" in path else self.path(path)

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
        tmp = f"{path}{TEMP_MARK}{uuid.uuid4().hex[:12]}"
        try:
            with self._open_output(tmp) as fh:
                write(fh)
            if self.is_local:
                os.replace(tmp, path)  # atomic on POSIX, also over an existing file
            else:
                self.fs.move(tmp, path)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                if self.exists(tmp):
                    self.fs.delete_file(tmp)
            if isinstance(exc, OSError) and not isinstance(exc, StorageWriteError):
                hint = _HINTS.get(exc.errno or 0, "check free space and permissions, then run again")
                raise StorageWriteError(exc.errno or 0, f"could not write {path}: {exc.strerror or exc} ({hint})"
                                        ) from exc
            raise

    def _open_output(self, path: str) -> IO[bytes]:
        return self.fs.open_output_stream(path)  # type: ignore[no-any-return]

    def move(self, src: str, dst: str) -> None:
        """Rename `src` to `dst`, creating `dst`'s folder."""
        self.fs.create_dir(dst.rsplit("/", 1)[0], recursive=True)
        self.fs.move(src, dst)

    def write_bytes_atomic(self, path: str, data: bytes) -> None:
        self.write_atomic(path, lambda fh: fh.write(data))

    def listdir(self, folder: str, suffix: str = "") -> Iterator[str]:
        selector = pafs.FileSelector(folder, allow_not_found=True, recursive=False)
        for info in self.fs.get_file_info(selector):
            if info.type == pafs.FileType.File and info.path.endswith(suffix):
                yield info.path
