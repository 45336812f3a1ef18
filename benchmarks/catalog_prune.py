"""Pruning a catalog after a config change: N generated videos curated, then curated again at another export size
(every clip file made anew), then `catalog prune --older-than 0`: its seconds, what it freed, and the warm run
after it (the prune reseals the catalog, so a warm run still trusts it without checking each artifact).

    .venv/bin/python benchmarks/catalog_prune.py [N]

The videos and the flow's settings are benchmarks/curate_scale.py's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import curate_scale  # (sets Prefect's environment before Prefect is imported)


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def main(n: int) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from physflow.data_catalog import Catalog
    from physflow.data_catalog.prune import prune_catalog, size_text, summary_line
    from physflow.data_catalog.verify import verify_catalog
    from physflow.stages.clip_export import ExportConfig

    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=300):
        folder, root = Path(tmp) / "videos", Path(tmp) / "catalog"
        for i in range(n):
            curate_scale.make_video(folder / f"v{i:05d}.{'avi' if curate_scale.FORMATS[i % 3][0] == 'mpeg4' else 'mp4'}",
                                    seed=i)
        first = curate_scale.params(folder, root)
        second = first.model_copy(update={"export": ExportConfig(short_side=24, max_frames=10)})
        cold, _, _ = curate_scale.run(first)
        other, _, computed = curate_scale.run(second)
        warm_before, _, _ = curate_scale.run(second)
        catalog = Catalog(root)
        before = folder_bytes(root / "blobs") + folder_bytes(root / "artifacts")
        artifacts = catalog.artifact_count()
        t0 = time.perf_counter()
        report = prune_catalog(catalog, older_than_s=0)
        seconds = time.perf_counter() - t0
        after = folder_bytes(root / "blobs") + folder_bytes(root / "artifacts")
        warm_after, _, computed_after = curate_scale.run(second)
        clean = verify_catalog(catalog, grace_s=0).clean
    print(f"{n} videos: cold {cold:.1f} s, at another export size {other:.1f} s ({computed} shards computed), "
          f"warm {warm_before:.2f} s; load {os.getloadavg()[0]:.1f}")
    print(f"prune: {seconds:.2f} s for {artifacts} registered artifacts; {summary_line(report)}; resealed "
          f"{report.resealed}")
    print(f"artifacts and blobs on disk: {size_text(before)} -> {size_text(after)}")
    print(f"warm after the prune: {warm_after:.2f} s ({computed_after} shards computed); verify clean: {clean}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=int, default=1000, help="videos to generate (default 1000)")
    main(parser.parse_args().n)
