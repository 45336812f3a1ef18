"""Cold vs warm ingest over the real videos, measured in one run.

    .venv/bin/python benchmarks/ingest.py [VIDEO_FOLDER]

Cold: a fresh catalog (every file hashed and decoded). Warm: the same flow again on that catalog
(Prefect returns Cached task runs, no file is read). Prints both wall times and their ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import throwaway_home  # noqa: F401  (sets PREFECT_HOME before Prefect is imported)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect.testing.utilities import prefect_test_harness

from physflow.flows.ingest import IngestParams, ingest_flow
from physflow.stages.common import video_io

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "videos"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT, help=f"videos to ingest (default {DEFAULT})")
    folder = parser.parse_args().folder
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=120):
        params = IngestParams(inputs=[str(folder)], catalog=str(Path(tmp) / "catalog"), shard_size=4)
        t0 = time.perf_counter()
        refs = ingest_flow(params)
        cold = time.perf_counter() - t0
        opened = video_io.OPEN_COUNT
        t0 = time.perf_counter()
        ingest_flow(params)
        warm = time.perf_counter() - t0
    rows = sum(r.rows for r in refs)
    print(f"videos: {rows} rows in {len(refs)} shards from {folder}")
    print(f"cold: {cold:.2f} s ({opened} files opened)")
    print(f"warm: {warm:.2f} s ({video_io.OPEN_COUNT - opened} files opened)")
    print(f"warm/cold: {warm / cold:.3f}")


if __name__ == "__main__":
    main()
