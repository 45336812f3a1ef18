"""Cost of the integrity checks on a warm run: curate the shared real videos once, then time warm re-runs.

    .venv/bin/python benchmarks/catalog_integrity.py [VIDEO_FOLDER] [--repeat N]

(a) warm, checks off: the check on use replaced by what the catalog did before it (a present manifest is
    trusted, views read without looking at their files); (b) warm, checks on, verified cache warm (the usual
    case: every artifact and blob was verified or written since it last changed: stat calls only); (c) warm,
    checks on, after a copy of the catalog (no file verified at its new path: every artifact and referenced
    blob is read once); (d) `catalog verify`, the deep check that reads everything. Medians of N runs (c: 1).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="physflow-bench-prefect-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect.testing.utilities import prefect_test_harness

from physflow.data_catalog import Catalog
from physflow.data_catalog.artifacts import ArtifactStore
from physflow.data_catalog.verify import verify_catalog
from physflow.flows.curate import CurateParams, curate_flow

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "videos"


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _unchecked_intact(self, stage, key, with_blobs=False, deep=False):  # type: ignore[no-untyped-def]
    return self.manifest(stage, key) if self.exists(stage, key) else None


def main() -> None:
    args = sys.argv[1:]
    repeat = int(args[args.index("--repeat") + 1]) if "--repeat" in args else 3
    folder = Path(next((a for a in args if not a.startswith("--") and not a.isdigit()), DEFAULT))
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=300):
        root = Path(tmp) / "catalog"

        def run(catalog: Path = root) -> None:
            curate_flow(CurateParams(inputs=[str(folder)], catalog=str(catalog)))

        cold = _timed(run)
        checked = ArtifactStore.intact, Catalog.check_current
        ArtifactStore.intact, Catalog.check_current = _unchecked_intact, lambda self: None  # type: ignore[method-assign]
        off = [_timed(run) for _ in range(repeat)]
        ArtifactStore.intact, Catalog.check_current = checked  # type: ignore[method-assign]
        on = [_timed(run) for _ in range(repeat)]
        copy = Path(tmp) / "copy"
        shutil.copytree(root, copy)
        first_after_copy = _timed(lambda: run(copy))
        cat = Catalog(root)
        deep = _timed(lambda: verify_catalog(cat))
        n_art, n_blob = len(cat.artifacts.manifests()), len(list((root / "blobs").rglob("*.*")))
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and "/.prefect" not in str(p))
    print(f"{folder} -> {n_art} artifacts, {n_blob} blobs, {size / 1e6:.1f} MB in the catalog")
    print(f"cold curate: {cold:.2f} s")
    print(f"warm, checks off:                     median {statistics.median(off):.2f} s  {[round(x, 2) for x in off]}")
    print(f"warm, checks on (verified cache warm): median {statistics.median(on):.2f} s  {[round(x, 2) for x in on]}")
    print(f"warm, checks on, first run after a copy (every file read once): {first_after_copy:.2f} s")
    print(f"catalog verify (deep, reads everything): {deep:.2f} s")


if __name__ == "__main__":
    main()
