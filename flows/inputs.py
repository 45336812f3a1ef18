"""Resolve what a user names as input (folders, globs, lists of paths, files) into video files."""

from __future__ import annotations

import glob
from pathlib import Path

from physflow.stages.common.video_io import sniff_container

_GLOB_CHARS = set("*?[")


class InputError(ValueError):
    """An input that names nothing usable; raised before any work."""


def resolve_inputs(inputs: list[str]) -> tuple[list[str], int]:
    """Files to ingest, in order, each once; and how many files in folders were skipped as non-video.

    - a folder: every file below it, recursively, that is a video by content (hidden files skipped);
    - a glob (`*`, `?`, `[`): every matching file that is a video by content;
    - a text file (not a video by content): one path per line, relative to the list's folder, `#` comments;
    - any other file: itself, whatever its content (a non-video becomes an error row).
    """
    files: list[str] = []
    skipped = 0
    for raw in inputs:
        if set(raw) & _GLOB_CHARS:
            matches = sorted(p for p in glob.glob(raw, recursive=True) if Path(p).is_file())
            if not matches:
                raise InputError(f"input glob {raw!r} matches no file")
            found, n = _videos_only(matches)
            files += found
            skipped += n
            continue
        path = Path(raw).expanduser()
        if path.is_dir():
            found, n = _videos_only(sorted(str(p) for p in path.rglob("*") if p.is_file() and not _hidden(p, path)))
            files += found
            skipped += n
        elif path.is_file():
            if sniff_container(path) is None and _is_text(path):
                files += _read_list(path)
            else:
                files.append(str(path.resolve()))
        else:
            raise InputError(f"input {raw!r} does not exist")
    seen: set[str] = set()
    unique = [f for f in (str(Path(f).resolve()) for f in files) if not (f in seen or seen.add(f))]
    return unique, skipped


def _hidden(path: Path, base: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(base).parts)


def _videos_only(paths: list[str]) -> tuple[list[str], int]:
    videos = [p for p in paths if sniff_container(p) is not None]
    return videos, len(paths) - len(videos)


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
        if not entry.is_file():
            raise InputError(f"{path}:{n}: listed file {line!r} does not exist")
        out.append(str(entry.resolve()))
    return out
