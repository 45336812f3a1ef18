"""Resolve what a user names as input (folders, globs, lists of paths, files) into video files."""

from __future__ import annotations

import glob
import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from physflow.data_catalog.fingerprints import FingerprintCache, real_paths
from physflow.data_catalog.keys import canonical_json, file_sha256, sha256_text
from physflow.stages.common import remote_files
from physflow.stages.common.video_io import FRAME_SUFFIXES, frame_sequence, sniff_container

_GLOB_CHARS = set("*?[")
_SNIFF_REQUESTS = 16  # objects whose first bytes are read at once when listing an object-store prefix


class InputError(ValueError):
    """An input that names nothing usable; raised before any work."""


class Skipped(NamedTuple):
    """A file found in a folder or glob that is not ingested, and why."""

    path: str
    reason: str


NOT_A_VIDEO = "not a video by content (its first bytes match no known container)"
NOT_A_FILE = "not a regular file (a named pipe, socket or device): reading it could wait forever or never end"
STILL_IMAGE = "a still image (not a numbered frame of a frame sequence, nor an animated GIF)"
UNFINISHED_SUFFIXES = frozenset({".part", ".partial", ".crdownload", ".opdownload", ".download", ".filepart",
                                  ".!qb", ".!ut", ".tmp"})
"""Name endings of files that browsers, download and transfer tools write while the file arrives, and rename
when it is whole (Firefox and wget `.part`, Chrome `.crdownload`, WinSCP `.filepart`, torrent clients' `.!qB`)."""
UNFINISHED = "an unfinished download or transfer, by its name: left for a later run, once renamed"
STILL_WRITTEN = ("still being written (its size or modification time changed while it was read): left for a "
                 "later run")


def resolve_inputs(inputs: list[str]) -> tuple[list[str], list[Skipped]]:
    """Videos to ingest, in order, each once; and every file in folders or globs that was skipped, with why.

    - a folder: every file below it, recursively, that is a video by content (hidden files and folders are
      ignored); a folder (or subfolder) of numbered PNG/JPEG frames is one video, named by the folder;
    - a glob (`*`, `?`, `[`): every matching file that is a video by content;
    - a text file (not a video by content): one path per line, relative to the list's folder, `#` comments;
    - any other file: itself, whatever its content (a non-video becomes an error row);
    - an object-store URI (`s3://bucket/prefix?endpoint_override=...`): every object below the prefix that is a
      video by content, or the one object it names (stages/common/remote_files.py).
    Animated GIF and WebP files are videos; a GIF with one frame is a still image.
    """
    files: list[str] = []
    skipped: list[Skipped] = []
    for raw in inputs:
        if remote_files.is_remote(raw):
            _list_remote(raw, files, skipped)
            continue
        if set(raw) & _GLOB_CHARS:
            matches = sorted(p for p in glob.glob(raw, recursive=True) if Path(p).is_file() or _special(p))
            if not matches:
                raise InputError(f"input glob {raw!r} matches no file")
            _sort_files(matches, files, skipped)
            continue
        path = Path(raw).expanduser()
        if path.is_dir():
            _scan_folder(path, files, skipped)
        elif path.is_file():
            if sniff_container(path) is None and _is_text(path):
                files += _read_list(path)
            else:
                files.append(str(path.resolve()))
        elif _special(str(path)):
            raise InputError(f"input {raw!r} is {NOT_A_FILE}")
        else:
            raise InputError(f"input {raw!r} does not exist")
    local = iter(real_paths([f for f in files if not remote_files.is_remote(f)]))
    seen: set[str] = set()
    unique = [f for f in (f if remote_files.is_remote(f) else next(local) for f in files)
              if not (f in seen or seen.add(f))]
    return unique, skipped


def _list_remote(uri: str, files: list[str], skipped: list[Skipped]) -> None:
    """The videos below an object-store prefix (their first bytes read by concurrent requests), or the one
    object the URI names."""
    try:
        remote_files.check_no_secrets(uri)
        listed = remote_files.list_files(uri)
    except FileNotFoundError:
        raise InputError(f"input {remote_files.location(uri)!r} does not exist") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"input {remote_files.location(uri)!r} cannot be listed: {' '.join(str(exc).split())}") from None
    if listed is None:
        files.append(uri)
        return
    if not listed:
        raise InputError(f"input {remote_files.location(uri)!r} holds no file")
    with ThreadPoolExecutor(max_workers=_SNIFF_REQUESTS) as pool:
        containers = list(pool.map(sniff_container, [f.uri for f in listed]))
    _sort_files([f.uri for f in listed], files, skipped, containers)


def _scan_folder(base: Path, files: list[str], skipped: list[Skipped]) -> None:
    """Videos below `base`: each folder of numbered frames as one video, then every video file."""
    for folder, dirs, names in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(folder)
        paths = [str(here / n) for n in sorted(names) if not n.startswith(".")]
        seq = frame_sequence(here)
        if seq is not None:
            files.append(str(here))
            frames = {seq.pattern % n for n in range(seq.start, seq.start + seq.count)}
            paths = [p for p in paths if p not in frames]
        _sort_files(paths, files, skipped)


def _sort_files(paths: list[str], files: list[str], skipped: list[Skipped],
                containers: list[str | None] | None = None) -> None:
    """Each path into `files` or `skipped`, by its container (sniffed here unless given). A named pipe, socket or
    device (or a link to one) is skipped unread: sniffing a pipe nobody writes to waited forever, and hashing
    /dev/zero never ends. So is a file named as one still arriving (`UNFINISHED_SUFFIXES`): a half-downloaded
    MP4 starts like a video, and was curated as the part that had arrived."""
    unfinished = [Path(p.split("?", 1)[0]).suffix.lower() in UNFINISHED_SUFFIXES for p in paths]
    special = [False] * len(paths) if containers is not None else [_special(p) for p in paths]  # given: objects
    if containers is None:
        containers = [None if odd or part else sniff_container(p)
                      for p, odd, part in zip(paths, special, unfinished, strict=True)]
    for path, container, odd, part in zip(paths, containers, special, unfinished, strict=True):
        if part:
            skipped.append(Skipped(path, UNFINISHED))
        elif odd:
            skipped.append(Skipped(path, NOT_A_FILE))
        elif container == "gif" and not _animated_gif(path):
            skipped.append(Skipped(path, STILL_IMAGE))
        elif container is not None:
            files.append(path)
        elif Path(path).suffix.lower() in FRAME_SUFFIXES:
            skipped.append(Skipped(path, STILL_IMAGE))
        else:
            skipped.append(Skipped(path, NOT_A_VIDEO))


def _special(path: str) -> bool:
    """Whether the local `path` is a named pipe, socket or device, or a link to one (a missing path is not)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _animated_gif(path: str) -> bool:
    from PIL import Image

    try:
        with Image.open(remote_files.local_copy(path) if remote_files.is_remote(path) else path) as image:
            return int(getattr(image, "n_frames", 1)) > 1
    except OSError:
        return True  # unreadable: ingest it, so it becomes a row saying why


def content_sha256(paths: list[str], fingerprints: FingerprintCache, frame_rate: float) -> list[str]:
    """The content key of each video: a file's sha256; for a folder of frames, the sha256 of its frames'
    sha256s in order and the frame rate it is read at. An object is hashed from this machine's copy (which
    the stages then open), and its sha256 remembered by URI, size and modification time. A file, or a folder of
    frames, that changed while it was read is added to `fingerprints.moving` (its key is of no content)."""
    objects = [p for p in paths if remote_files.is_remote(p)]
    with ThreadPoolExecutor(max_workers=_SNIFF_REQUESTS) as pool:  # downloads of new objects overlap
        remote = dict(zip(objects, pool.map(lambda uri: _remote_sha256(uri, fingerprints), objects), strict=True))
    files = fingerprints.many([p for p in paths if p not in remote and not os.path.isdir(p)])[::-1]
    keys = []
    for path in paths:
        if path in remote:
            keys.append(remote[path])
            continue
        if not os.path.isdir(path):
            keys.append(files.pop())
            continue
        seq = frame_sequence(path)
        frames = [seq.pattern % n for n in range(seq.start, seq.start + seq.count)] if seq else []
        keys.append(sha256_text(canonical_json({"frames": fingerprints.many(frames), "frame_rate": frame_rate})))
        if fingerprints.moving.intersection(frames):
            fingerprints.moving.add(path)
    return keys


def settled(paths: list[str], settle_s: float, now: float | None = None) -> tuple[list[str], list[Skipped]]:
    """`paths` split into those unmodified for at least `settle_s` seconds (a folder of frames: its newest frame
    or entry), in order, and the others as skipped with why; object-store URIs pass (a store shows an object once
    whole)."""
    now = time.time() if now is None else now
    kept, young = [], []
    for path in paths:
        age = None if remote_files.is_remote(path) else now - _modified(path)
        if age is not None and age < settle_s:
            young.append(Skipped(path, f"modified {max(0.0, age):.0f} s ago, under settle_s ({settle_s:g} s): "
                                       "may still be arriving, left for a later run"))
        else:
            kept.append(path)
    return kept, young


def _modified(path: str) -> float:
    """When the file, or a folder of frames and its newest entry, was last modified (seconds since the epoch)."""
    try:
        st = os.stat(path)
        if not stat.S_ISDIR(st.st_mode):
            return st.st_mtime
        with os.scandir(path) as entries:
            return max([st.st_mtime, *(e.stat().st_mtime for e in entries if e.is_file())])
    except OSError:
        return 0.0  # gone or unreadable: its ingest row says why


def _remote_sha256(uri: str, fingerprints: FingerprintCache) -> str:
    """An object's sha256 (remembered by its URI, size and mtime); for one the store cannot give, a key made of
    its URI, whose ingest row is an error saying why (once the store gives the object, its sha256 is a new key)."""
    try:
        info = remote_files.stat(uri)
    except OSError:
        return sha256_text(uri)  # gone or unreachable: its ingest row says why
    sha = fingerprints.recall(uri, info.size, info.mtime_ns)
    if sha is None:
        try:
            sha = file_sha256(remote_files.local_copy(uri, info))
        except OSError:
            return sha256_text(uri)
        fingerprints.record(uri, info.size, info.mtime_ns, sha)
    return sha


def _is_text(path: Path) -> bool:
    try:
        head = path.read_bytes()[:4096]
        head.decode("utf-8")
    except (UnicodeDecodeError, OSError):
        return False
    return b"\x00" not in head


def _read_list(path: Path) -> list[str]:
    out = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        entry = Path(line).expanduser()
        entry = entry if entry.is_absolute() else path.parent / entry
        if _special(str(entry)):
            raise InputError(f"{path}:{n}: listed file {line!r} is {NOT_A_FILE}")
        if not entry.is_file():
            raise InputError(f"{path}:{n}: listed file {line!r} does not exist")
        out.append(str(entry.resolve()))
    return out
