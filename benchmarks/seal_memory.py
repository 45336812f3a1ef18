"""Memory and time of proving a catalog's seal, against the number of files the catalog holds.

    .venv/bin/python benchmarks/seal_memory.py [N ...]   (default: 20000 100000)

For each N: a catalog in a temporary folder holding N blobs (64 bytes each, named by their sha256 as the blob store
names them) referenced by clip_files artifacts of 1,000 rows each, sealed once (which hashes every file). Then:
(a) `seal_holds()`, the check a run makes (one listing of the catalog, compared with the seal);
(b) `seal()` after one file was touched, so the whole catalog is proven again (every manifest read, every file's
    fingerprint looked up; none hashed but the touched one).
Each prints its seconds, and the peak of Python's allocations during it (tracemalloc, in a second call), which the
proof's listing and lookups make; a curation run makes (a) once and (b) after its batches.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa

from physflow.data_catalog import ArtifactStore, Catalog
from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.schemas import TABLES

PER_ARTIFACT = 1000


def build(root: Path, n: int) -> Catalog:
    cat = Catalog(root)
    store = BlobStore(cat.root)
    refs: list[str] = []
    for i in range(n):
        payload = i.to_bytes(8, "little") * 8
        sha = hashlib.sha256(payload).hexdigest()
        path = Path(store.path(sha, "mp4"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
        refs.append(store.ref(str(path)))
    for a in range(0, n, PER_ARTIFACT):
        rows = [{"clip_id": f"c{i}", "video_id": "v", "clip_uri": refs[i],
                 "clip_sha256": refs[i].rsplit("/", 1)[-1][:64]} for i in range(a, min(n, a + PER_ARTIFACT))]
        table = pa.Table.from_pylist(rows, schema=TABLES["clip_files"].schema)
        cat.register(cat.artifacts.write(stage="clip_export", version=1, key=f"k{a:09d}", table_name="clip_files",
                                         table=table, shard=f"s{a}", config={}, inputs=[f"s{a}"]))
    return cat


def measured(call, before=lambda: None):  # type: ignore[no-untyped-def]
    """Seconds of `call()` (after `before()`), then the peak of Python's allocations in a second call (traced, so
    slower)."""
    before()
    t0 = time.perf_counter()
    assert call()
    seconds = time.perf_counter() - t0
    before()
    tracemalloc.start()
    assert call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="*", type=int, default=[20_000, 100_000], help="blobs in the catalog")
    for n in parser.parse_args().n:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            cat = build(Path(tmp) / "catalog", n)
            assert cat.seal()
            made = time.perf_counter() - t0
            root = Path(tmp) / "catalog"
            holds_s, holds_mib = measured(Catalog(root).seal_holds)
            data = root / ArtifactStore.relative_path("clip_export", f"k{0:09d}")
            seal_s, seal_mib = measured(Catalog(root).seal, before=functools.partial(os.utime, data))
            print(f"{n} blobs ({n // PER_ARTIFACT} artifacts; built and first sealed in {made:.0f} s): "
                  f"seal_holds {holds_s:.2f} s, peak {holds_mib:.1f} MiB; seal after a touch {seal_s:.2f} s, "
                  f"peak {seal_mib:.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
