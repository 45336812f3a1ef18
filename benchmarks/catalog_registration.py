"""Registering a stage's shards as the catalog grows: each shard's view rebuilt at once against once per stage.

    .venv/bin/python benchmarks/catalog_registration.py [N] [--step S]    (N 1000: about 1.5 minutes)

Registers N one-row artifacts of one table (`videos`, as ingest writes them), one after another, on a fresh
catalog, twice: (a) refreshing the table's view with each registration (`register(m)`, as a single registration
does), and (b) as a stage's shards register, marking the view stale (`register(m, views=False)`) and rebuilding
it once at the end (`refresh_views`), as `run_jobs` does when a stage ends. A view lists every artifact
of its table, so (a) costs the square of N in all. Prints the mean milliseconds per registration over each step of
S registrations, and the totals, measured in one run (the artifacts are written before the clock starts).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa

from physflow.data_catalog import Catalog
from physflow.data_catalog.artifacts import Manifest
from physflow.data_catalog.schemas import TABLES


def _manifests(cat: Catalog, n: int) -> list[Manifest]:
    out = []
    for i in range(n):
        rows = pa.Table.from_pylist([{"video_id": f"v{i}", "uri": f"/v/{i}", "codec": "h264"}],
                                    schema=TABLES["videos"].schema)
        out.append(cat.artifacts.write(stage="ingest", version=1, key=f"k{i:06d}", table_name="videos", table=rows,
                                       shard=f"s{i}", config={}, inputs=[f"s{i}"]))
    return out


def _run(n: int, step: int, per_registration: bool) -> tuple[list[float], float, int]:
    """Milliseconds per registration over each step, total seconds (the final refresh included), rows read."""
    with tempfile.TemporaryDirectory(prefix="physflow-bench-registration-") as folder:
        cat = Catalog(folder)
        cat.create()
        manifests = _manifests(cat, n)
        means, start = [], time.perf_counter()
        for first in range(0, n, step):
            t = time.perf_counter()
            for m in manifests[first:first + step]:
                cat.register(m, views=per_registration)
            means.append((time.perf_counter() - t) * 1000 / len(manifests[first:first + step]))
        cat.refresh_views()
        total = time.perf_counter() - start
        return means, total, cat.table("videos").num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=int, default=1000, help="artifacts to register (default 1000)")
    parser.add_argument("--step", type=int, default=250, help="registrations per printed mean (default 250)")
    args = parser.parse_args()
    for label, per_registration in (("(a) view rebuilt per registration", True),
                                    ("(b) view rebuilt once per stage", False)):
        means, total, rows = _run(args.n, args.step, per_registration)
        steps = ", ".join(f"{i * args.step + 1}-{min(args.n, (i + 1) * args.step)}: {ms:.1f}"
                          for i, ms in enumerate(means))
        print(f"{label}: {total:.1f} s for {args.n} registrations ({rows} rows in the view); ms per "
              f"registration by step: {steps}")


if __name__ == "__main__":
    main()
