"""Input videos in an object store (`s3://bucket/prefix?endpoint_override=host:port&scheme=http`).

A video in a bucket is named by its URI, query included: the query says how to reach the store (endpoint,
region), the same for every file under an input. Credentials come from the environment (the AWS variables),
never from the query, since a video's URI is a column of the catalog's tables (`check_no_secrets`).

Listing, sniffing (the first bytes) and fingerprinting ask the store; decoding does not: a decoder seeks, and
each seek on an object store would be a request, so the stages open a local copy (`local_copy`), downloaded
once per machine into `PHYSFLOW_INPUT_CACHE` (default `~/.cache/physflow/inputs`) under a name made of the URI,
size and modification time, and shared by the stages and worker processes of that machine. Once the folder
holds more than `PHYSFLOW_INPUT_CACHE_GB` (default 20), the copies used longest ago are removed.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qsl

import pyarrow.fs as pafs

from physflow.data_catalog.storage import SECRET_PARAMS

INPUT_CACHE_ENV = "PHYSFLOW_INPUT_CACHE"
INPUT_CACHE_GB_ENV = "PHYSFLOW_INPUT_CACHE_GB"
DEFAULT_CACHE_GB = 20.0
_TEMP = ".part-"
_CHUNK = 8 << 20


@dataclass(frozen=True)
class RemoteFile:
    uri: str  # scheme://bucket/key, with the input's query
    size: int
    mtime_ns: int


def is_remote(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is an object-store URI (a `scheme://` other than `file://`)."""
    text = os.fspath(path)
    return "://" in text and not text.startswith("file://")


def location(uri: str) -> str:
    """The URI without its query: how messages name a file."""
    return uri.split("?", 1)[0]


def file_name(path: str) -> str:
    """The last part of a path or of an object-store URI (its query left out)."""
    return PurePosixPath(location(path) if is_remote(path) else path).name


def check_no_secrets(uri: str) -> None:
    """Refuse a URI whose query holds credentials: URIs are stored in the catalog's tables."""
    names = {name for name, _ in parse_qsl(uri.partition("?")[2])} & SECRET_PARAMS
    if names:
        raise ValueError(f"{location(uri)}: the query names {', '.join(sorted(names))}; give credentials in the "
                         "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), not in input URIs, which are "
                         "stored in the catalog")


@functools.cache
def _filesystem(scheme: str, bucket: str, query: str) -> pafs.FileSystem:
    """One file system per store (scheme and query), made once per process."""
    return pafs.FileSystem.from_uri(f"{scheme}://{bucket}" + (f"?{query}" if query else ""))[0]


def resolve(uri: str) -> tuple[pafs.FileSystem, str]:
    """The file system of `uri` and the path of its file or folder in it (bucket/key)."""
    where, _, query = uri.partition("?")
    scheme, _, rest = where.partition("://")
    path = rest.strip("/")
    return _filesystem(scheme, path.split("/", 1)[0], query), path


def _with_query(uri: str, path: str) -> str:
    """The URI of `path` in the same store as `uri`."""
    where, sep, query = uri.partition("?")
    return f"{where.split('://', 1)[0]}://{path}{sep}{query}"


def stat(uri: str) -> RemoteFile:
    """Size and modification time of one object; FileNotFoundError when there is none."""
    fs, path = resolve(uri)
    info = fs.get_file_info(path)
    if info.type != pafs.FileType.File:
        raise FileNotFoundError(f"{location(uri)} is not a file in the store")
    return RemoteFile(uri, int(info.size), int(info.mtime_ns or 0))


def list_files(uri: str) -> list[RemoteFile] | None:
    """Every object below the folder `uri`, recursively, by key (hidden names skipped); None when `uri` names
    one object. FileNotFoundError when it names nothing."""
    fs, base = resolve(uri)
    info = fs.get_file_info(base)
    if info.type == pafs.FileType.File:
        return None
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"{location(uri)} does not exist")
    found = fs.get_file_info(pafs.FileSelector(base, recursive=True))
    files = [RemoteFile(_with_query(uri, i.path), int(i.size), int(i.mtime_ns or 0)) for i in found
             if i.type == pafs.FileType.File
             and not any(part.startswith(".") for part in PurePosixPath(i.path[len(base):]).parts)]
    return sorted(files, key=lambda f: f.uri)


def head(uri: str, n: int) -> bytes:
    """The first `n` bytes of an object (one ranged request)."""
    fs, path = resolve(uri)
    with fs.open_input_file(path) as f:
        return f.read(n)


def cache_folder() -> Path:
    return Path(os.environ.get(INPUT_CACHE_ENV) or Path.home() / ".cache" / "physflow" / "inputs").expanduser()


def local_copy(uri: str, remote: RemoteFile | None = None) -> str:
    """A local file with the object's bytes: this machine's copy, downloaded on first use (to a temporary name,
    then renamed, so a reader never sees half a file). `remote`: the object's `stat`, when the caller has it.
    OSError when the store cannot give it."""
    remote = remote or stat(uri)
    folder = cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(f"{location(uri)}\n{remote.size}\n{remote.mtime_ns}".encode()).hexdigest()[:32]
    dest = folder / (name + PurePosixPath(location(uri)).suffix.lower()[:16])
    if dest.exists() and dest.stat().st_size == remote.size:
        os.utime(dest)  # used now: the last to be removed
        return str(dest)
    fs, path = resolve(uri)
    tmp = dest.with_name(dest.name + _TEMP + uuid.uuid4().hex[:8])
    try:
        with fs.open_input_stream(path) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    _prune(folder, keep=dest)
    return str(dest)


def _prune(folder: Path, keep: Path) -> None:
    """Remove the copies used longest ago while the folder holds more than its budget (never `keep`)."""
    budget = float(os.environ.get(INPUT_CACHE_GB_ENV) or DEFAULT_CACHE_GB) * 2**30
    entries = []
    for path in folder.iterdir():
        try:
            st = path.stat()
        except FileNotFoundError:  # removed by another process meanwhile
            continue
        if path.is_file() and _TEMP not in path.name:
            entries.append((st.st_mtime, st.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= budget:
            break
        if path != keep:
            path.unlink(missing_ok=True)
            total -= size
