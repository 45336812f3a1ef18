"""Cost of the integrity checks on a warm run: curate the shared real videos once, then time warm re-runs.

    .venv/bin/python benchmarks/catalog_integrity.py [VIDEO_FOLDER] [--repeat N]

(a) warm, checks off: the check on use replaced by what the catalog did before it (a present manifest is
    trusted, views read without looking at their files); (b) warm, checks on, verified cache warm (the usual
    case: every artifact and blob was verified or written since it last changed: stat calls only); (c) warm,
    checks on, after a copy of the catalog (no file verified at its new path: every artifact and referenced
    blob is read once); (d) `catalog verify`, the deep check that reads everything. Medians of N runs (c: 1).
The flow timings swing by a second or more on a loaded machine, so the checks are also timed alone: one
catalog read (`SELECT count(*) FROM videos`) and the cache-hit check of every artifact with its blobs, each
with the checks off, on in a process that verified them already, and on in a fresh process (memo empty,
fingerprint cache on disk warm).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import throwaway_home  # noqa: F401  (sets PREFECT_HOME before Prefect is imported)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect.testing.utilities import prefect_test_harness

from physflow.data_catalog import Catalog, catalog, integrity
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


def _forget_memos() -> None:
    catalog._CHECKED.clear()
    integrity._VERIFIED.clear()


def checks_alone(root: Path, n: int = 20) -> dict[str, float]:
    """Milliseconds of one catalog read and of the cache-hit checks of all artifacts (with their blobs)."""
    cat = Catalog(root)
    manifests = cat.artifacts.manifests()

    def read() -> None:
        Catalog(root).query("SELECT count(*) FROM videos")

    def hits() -> None:
        for m in manifests:
            Catalog(root).artifacts.intact(m.stage, m.key, with_blobs=True)

    def fresh(fn):  # type: ignore[no-untyped-def]
        return lambda: (_forget_memos(), fn())

    out = {}
    for name, fn in (("read", read), ("cache hits", hits)):
        out[f"{name}, checks on, memo warm"] = min(timeit.repeat(fn, number=1, repeat=n)) * 1e3
        out[f"{name}, checks on, fresh process"] = min(timeit.repeat(fresh(fn), number=1, repeat=n)) * 1e3
    saved = ArtifactStore.intact, Catalog._current_problems
    ArtifactStore.intact = _unchecked_intact  # type: ignore[method-assign]
    Catalog._current_problems = lambda self, con: []  # type: ignore[method-assign]
    out["read, checks off"] = min(timeit.repeat(read, number=1, repeat=n)) * 1e3
    out["cache hits, checks off"] = min(timeit.repeat(hits, number=1, repeat=n)) * 1e3
    ArtifactStore.intact, Catalog._current_problems = saved  # type: ignore[method-assign]
    return out


def main() -> None:
    args = _arguments()
    repeat, folder = args.repeat, args.folder
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=300):
        root = Path(tmp) / "catalog"

        def run(catalog: Path = root) -> None:
            curate_flow(CurateParams(inputs=[str(folder)], catalog=str(catalog)))

        cold = _timed(run)
        checked = ArtifactStore.intact, Catalog._current_problems
        ArtifactStore.intact = _unchecked_intact  # type: ignore[method-assign]
        Catalog._current_problems = lambda self, con: []  # type: ignore[method-assign]
        off = [_timed(run) for _ in range(repeat)]
        ArtifactStore.intact, Catalog._current_problems = checked  # type: ignore[method-assign]
        on = [_timed(run) for _ in range(repeat)]
        copy = Path(tmp) / "copy"
        shutil.copytree(root, copy)
        first_after_copy = _timed(lambda: run(copy))
        cat = Catalog(root)
        deep = _timed(lambda: verify_catalog(cat))
        alone = checks_alone(root)
        n_art, n_blob = len(cat.artifacts.manifests()), len(list((root / "blobs").rglob("*.*")))
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and "/.prefect" not in str(p))
    print(f"{folder} -> {n_art} artifacts, {n_blob} blobs, {size / 1e6:.1f} MB in the catalog")
    print(f"cold curate: {cold:.2f} s")
    print(f"warm, checks off:                     median {statistics.median(off):.2f} s  {[round(x, 2) for x in off]}")
    print(f"warm, checks on (verified cache warm): median {statistics.median(on):.2f} s  {[round(x, 2) for x in on]}")
    print(f"warm, checks on, first run after a copy (every file read once): {first_after_copy:.2f} s")
    print(f"catalog verify (deep, reads everything): {deep:.2f} s")
    for name, ms in sorted(alone.items()):
        print(f"{name}: {ms:.1f} ms (best of 20)")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT, help=f"videos to curate (default {DEFAULT})")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per case, the median printed (default 3)")
    return parser.parse_args()


if __name__ == "__main__":
    main()
