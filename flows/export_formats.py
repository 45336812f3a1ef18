"""Writers of exported datasets: a Hugging Face `datasets` folder, WebDataset tar shards, and the CSV /
folder layout of common video fine-tuning scripts. Every file is written under a temporary name and
renamed, so an interrupted export leaves only complete files, and a re-run skips what is complete.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

PHYSICS_KEYS = ("categories", "laws", "phenomena", "enhanced_prompt", "properties", "quantities")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def sample_key(clip_id: str) -> str:
    """A file-name-safe key without dots (WebDataset splits names at the first dot)."""
    return _UNSAFE.sub("_", clip_id)


def physics_json(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row.get(k) for k in PHYSICS_KEYS}
    for k in ("properties", "quantities"):
        if isinstance(out[k], str):
            out[k] = json.loads(out[k])
    return out


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def copy_video(src: str, dest: Path) -> None:
    """Copy a clip file unless an equal-sized copy is already there (resume)."""
    if dest.exists() and dest.stat().st_size == Path(src).stat().st_size:
        return
    _atomic(dest, lambda tmp: shutil.copyfile(src, tmp))


def shard_names(n_samples: int, shard_size: int, pattern: str) -> list[str]:
    n = max(1, -(-n_samples // shard_size))
    return [pattern.format(i=i, n=n) for i in range(n)]


def write_hf(out: Path, rows: Sequence[dict[str, Any]], shard_size: int) -> list[str]:
    """data/train-XXXXX-of-NNNNN.parquet (one row per clip, `video` a path relative to `out`) + videos/."""
    names = shard_names(len(rows), shard_size, "data/train-{i:05d}-of-{n:05d}.parquet")
    for i, name in enumerate(names):
        chunk = rows[i * shard_size:(i + 1) * shard_size]
        for r in chunk:
            copy_video(r["clip_path"], out / r["video"])
        if (out / name).exists():
            continue
        records = [{"clip_id": r["clip_id"], "video": r["video"], "caption": r["caption"],
                    "caption_source": r["caption_source"], "duration_s": r["duration_s"], "fps": r["fps"],
                    "width": r["width"], "height": r["height"], "categories": r["categories"] or [],
                    "laws": r["laws"] or [], "phenomena": r["phenomena"] or [], "enhanced_prompt": r["enhanced_prompt"],
                    "physics": json.dumps(physics_json(r))} for r in chunk]
        table = pa.Table.from_pylist(records, schema=HF_SCHEMA)
        _atomic(out / name, lambda tmp, t=table: pq.write_table(t, tmp))
    return names


HF_SCHEMA = pa.schema([
    ("clip_id", pa.string()), ("video", pa.string()), ("caption", pa.string()), ("caption_source", pa.string()),
    ("duration_s", pa.float64()), ("fps", pa.float64()), ("width", pa.int32()), ("height", pa.int32()),
    ("categories", pa.list_(pa.string())), ("laws", pa.list_(pa.string())), ("phenomena", pa.list_(pa.string())),
    ("enhanced_prompt", pa.string()), ("physics", pa.string()),
])


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644  # fixed mtime: the same samples give the same bytes
    tar.addfile(info, io.BytesIO(data))


def write_webdataset(out: Path, rows: Sequence[dict[str, Any]], shard_size: int) -> list[str]:
    """shard-XXXXXX.tar; per sample: .mp4 (clip), .txt (caption), .json (physics and clip facts),
    .flow.mp4 (VideoJAM flow RGB, when computed), .mask.FRAME.png (part masks, when computed)."""
    names = shard_names(len(rows), shard_size, "shard-{i:06d}.tar")
    for i, name in enumerate(names):
        if (out / name).exists():
            continue
        chunk = rows[i * shard_size:(i + 1) * shard_size]

        def write(tmp: Path, chunk: Sequence[dict[str, Any]] = chunk) -> None:
            with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
                for r in chunk:
                    key = sample_key(r["clip_id"])
                    _add(tar, f"{key}.mp4", Path(r["clip_path"]).read_bytes())
                    _add(tar, f"{key}.txt", (r["caption"] or "").encode())
                    meta = {"clip_id": r["clip_id"], "duration_s": r["duration_s"], "fps": r["fps"],
                            "caption_source": r["caption_source"], "physics": physics_json(r)}
                    _add(tar, f"{key}.json", json.dumps(meta, sort_keys=True).encode())
                    if r.get("flow_rgb_path"):
                        _add(tar, f"{key}.flow.mp4", Path(r["flow_rgb_path"]).read_bytes())
                    for frame, mask in r.get("masks", []):
                        _add(tar, f"{key}.mask.{frame:06d}.png", Path(mask).read_bytes())

        _atomic(out / name, write)
    return names


def write_csv(out: Path, rows: Sequence[dict[str, Any]]) -> list[str]:
    """prompts.txt and videos.txt (line i of one matches line i of the other), metadata.csv, videos/."""
    for r in rows:
        copy_video(r["clip_path"], out / r["video"])
    prompts = "".join(" ".join((r["caption"] or "").split()) + "\n" for r in rows)
    videos = "".join(r["video"] + "\n" for r in rows)
    _atomic(out / "prompts.txt", lambda tmp: tmp.write_text(prompts))
    _atomic(out / "videos.txt", lambda tmp: tmp.write_text(videos))
    meta = pa.table({"clip_id": [r["clip_id"] for r in rows], "video": [r["video"] for r in rows],
                     "caption": [r["caption"] for r in rows],
                     "laws": [";".join(r["laws"] or []) for r in rows]})

    def write_meta(tmp: Path) -> None:
        import pyarrow.csv as pacsv

        pacsv.write_csv(meta, tmp)

    _atomic(out / "metadata.csv", write_meta)
    return ["prompts.txt", "videos.txt", "metadata.csv"]
