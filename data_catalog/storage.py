"""The catalog root behind a pyarrow filesystem: local paths by default, object-store URIs the same way.

Every write goes to a temporary name in the destination folder (`<name>.tmp-<random>`) and is then renamed,
so a reader never sees a half-written file. A failed write (disk full, no permission) removes its temporary
file and raises `StorageWriteError` naming the file and the cause.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

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


class CatalogRootError(OSError):
    """An object-store catalog root cannot be reached or created (bucket missing, server down, no access)."""


SECRET_PARAMS = frozenset({"access_key", "secret_key", "session_token"})
"""Query parameters of an object-store URI that carry credentials."""
REGISTRY_HOME_ENV = "PHYSFLOW_REGISTRY_HOME"
"""Where the local registries of object-store catalogs live (default ~/.cache/physflow/registries)."""


class Root:
    """A folder (local path or URI such as s3://bucket/prefix) that holds one catalog.

    An object-store root (s3://bucket/prefix?endpoint_override=host:port&scheme=http, credentials from the
    usual AWS variables) holds the artifacts and blobs; the files that need a POSIX file system (the DuckDB
    registry, its lock, the fingerprint caches) are kept on this machine, in a folder of `PHYSFLOW_REGISTRY_HOME`
    named by the root (`local_path`). That registry is an index: `Catalog.rebuild` rebuilds it from the
    manifests in the store on any machine."""

    def __init__(self, uri: str | os.PathLike[str]):
        text = os.fspath(uri)
        if "://" in text:
            self.fs, self.base = pafs.FileSystem.from_uri(text)
            self.is_local = isinstance(self.fs, pafs.LocalFileSystem)
        else:
            self.fs, self.base, self.is_local = pafs.LocalFileSystem(), str(Path(text).expanduser().resolve()), True
        self.uri = text if not self.is_local else self.base
        self.scheme = None if self.is_local else text.split("://", 1)[0]
        try:
            self.fs.create_dir(self.base, recursive=True)
        except OSError as exc:
            if self.is_local:
                raise
            where = text.split("?", 1)[0]  # the query may hold credentials
            reason = " ".join(str(exc).split())
            raise CatalogRootError(f"catalog root {where} cannot be used: {reason}") from exc

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
        """A path on this machine (DuckDB and lock files need one): under the root itself when it is local, else
        in this machine's registry folder for the root."""
        if self.is_local:
            return Path(self.path(*parts))
        return self._registry_folder.joinpath(*parts)

    @functools.cached_property
    def _registry_folder(self) -> Path:
        home = Path(os.environ.get(REGISTRY_HOME_ENV) or Path.home() / ".cache" / "physflow" / "registries")
        folder = home.expanduser() / hashlib.sha256(f"{self.scheme}://{self.base}".encode()).hexdigest()[:16]
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def url(self, path: str) -> str:
        """`path` of this root's file system as DuckDB names it: itself when local, else with the scheme."""
        return path if self.is_local else f"{self.scheme}://{path}"

    @functools.cached_property
    def query(self) -> str:
        """What an object-store root's URI says of how to reach the store (endpoint, region...), credentials left
        out: the query that the URIs of its files carry ('' for a local root)."""
        query = self.uri.partition("?")[2] if not self.is_local else ""
        return "&".join(p for p in query.split("&") if p and p.partition("=")[0] not in SECRET_PARAMS)

    @functools.cached_property
    def duckdb_filesystem(self) -> Any:
        """The file system DuckDB reads this root's files through (None for a local root): the root's own,
        wrapped for fsspec, so DuckDB needs no extension and no download to read an object store."""
        return None if self.is_local else _fsspec_wrapper(str(self.scheme))(self.fs)

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def files_in(self, folder: str) -> set[str]:
        """The paths of the files directly in `folder` (none when it is missing): one listing, where asking
        after each file costs a request of an object store each."""
        if self.is_local:
            try:
                with os.scandir(folder) as entries:
                    return {f"{folder}/{e.name}" for e in entries if e.is_file()}
            except FileNotFoundError:
                return set()
        selector = pafs.FileSelector(folder, allow_not_found=True)
        return {info.path for info in self.fs.get_file_info(selector) if info.type == pafs.FileType.File}

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


@functools.cache
def _fsspec_wrapper(scheme: str) -> type:
    """fsspec's wrapper of a pyarrow file system, answering to `scheme` (one class per scheme)."""
    from fsspec.implementations.arrow import ArrowFSWrapper

    return type(f"{scheme.capitalize()}Files", (ArrowFSWrapper,), {"protocol": scheme})
