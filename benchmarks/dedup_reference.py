"""One batch's dedup against a catalog of N canonical clips: the seconds and the peak memory it adds.

    .venv/bin/python benchmarks/dedup_reference.py [N,N,...]   (default 10000,100000,300000,1000000)
    .venv/bin/python benchmarks/dedup_reference.py --catalog N,N,...   (e.g. 50000,300000)

A curation run compares each batch's clips (here 1,000, as a batch of `flows/curate.py` BATCH_VIDEOS holds about
that many) with every canonical clip before them: the catalog's and the run's earlier batches'. For each N, in a
process of its own (a process's peak RSS never falls), the reference is built as the flow keeps it (a table per
batch of 1,000 random three-keyframe pHashes, added by `_Reference.add`), then one batch is
timed: reading the reference clips near its clips (`_Reference.near`), its dedup key, and the dedup stage over the
batch's clips against them. It prints the
seconds of each and the peak RSS before and after the batch. What a batch costs should not grow with N.

`--catalog`: instead, a catalog of N curated clips (their four tables registered as artifacts of 1,000 rows,
every clip canonical) and the time and peak RSS of reading its dedup reference (`_reference`), as a run over
new videos does once.
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BATCH = 1000


def _phash(rnd: random.Random) -> str:
    return "-".join(f"{rnd.getrandbits(64):016x}" for _ in range(3))


def one(n: int) -> None:
    from physflow.data_catalog.keys import canonical_json, sha256_text
    from physflow.flows import curate
    from physflow.stages.dedup import REFERENCE, DedupConfig, DedupInput, DedupStage, ReferenceIndex

    rnd = random.Random(0)
    config = DedupConfig()
    reference = curate._Reference.__new__(curate._Reference)  # as a run's first batch leaves it: no other videos
    reference._config, reference._parts = config, [ReferenceIndex(REFERENCE.empty_table(), config.chunks)]
    start = time.perf_counter()
    for b in range(n // BATCH):
        batch = [{"clip_id": f"{b:06d}{i:04d}{'0' * 6}:0-50", "video_id": f"{b:06d}{i:04d}{'0' * 6}",
                  "phash": _phash(rnd), "error": None} for i in range(BATCH)]
        reference.add(batch, links={}, files={}, decisions={r["clip_id"]: {"keep": True} for r in batch})
    added = (time.perf_counter() - start) / max(1, n // BATCH)
    clips = [{"clip_id": f"new{i}:0-50", "video_id": f"new{i}", "phash": _phash(rnd), "width": 160, "height": 96,
              "duration_s": 2.0, "start_frame": 0} for i in range(BATCH)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    table, digest = reference.near([], clips)
    t1 = time.perf_counter()
    sha256_text(canonical_json({"analyzed": [], "reference": digest}))
    t2 = time.perf_counter()
    rows = DedupStage(config).run([DedupInput(clips, table)])
    t3 = time.perf_counter()
    assert rows.num_rows == BATCH
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n:>9} clips before: a batch added {added * 1000:.0f} ms; read the {table.num_rows} near its clips "
          f"{t1 - t0:.2f} s, key {t2 - t1:.3f} s, "
          f"dedup {t3 - t2:.2f} s; peak RSS {before:.0f} -> {after:.0f} MiB (+{after - before:.0f})", flush=True)


def catalog_read(n: int) -> None:
    import tempfile

    import pyarrow as pa

    from physflow.data_catalog import Catalog
    from physflow.data_catalog.schemas import TABLES

    rnd = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="physflow-bench-dedup-") as tmp:
        catalog = Catalog(Path(tmp) / "catalog")
        for a in range(n // BATCH):
            clips = [f"{a:06d}{i:04d}{'0' * 6}:0-50" for i in range(BATCH)]
            videos = [clip[:16] for clip in clips]
            for stage, table, extra in (
                    ("analyze", "clip_measures", lambda: {"phash": _phash(rnd), "brightness": 0.5}),
                    ("dedup", "clip_duplicates", dict), ("curate_filter", "clip_decisions", lambda: {"keep": True}),
                    ("clip_export", "clip_files", lambda: {"clip_uri": "blobs/x.mp4"})):
                rows = [{"clip_id": c, "video_id": v, **extra()} for c, v in zip(clips, videos, strict=True)]
                catalog.register(catalog.artifacts.write(
                    stage=stage, version=1, key=f"{stage}-{a}", table_name=table, shard=f"shard-{a}", config={},
                    inputs=[f"shard-{a}"], table=pa.Table.from_pylist(rows, schema=TABLES[table].schema)))
        # read in a process of its own: building the catalog raised this one's peak
        subprocess.run([sys.executable, __file__, "--read", str(Path(tmp) / "catalog"), str(n)], check=True,
                       timeout=3600)


def read(root: str, n: int) -> None:
    from physflow.data_catalog import Catalog
    from physflow.flows import curate

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    reference = curate._reference(Catalog(root), set(), [])
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n:>9} clips in the catalog: reference of {reference.num_rows} read in {seconds:.2f} s; peak RSS "
          f"{before:.0f} -> {after:.0f} MiB (+{after - before:.0f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", nargs="?", default="10000,100000,300000,1000000",
                        help="reference sizes in clips, comma-separated")
    parser.add_argument("--catalog", default=None, metavar="N,N,...",
                        help="instead: read the dedup reference of a catalog of N clips, for each N")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # a size, in this process
    parser.add_argument("--one-catalog", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--read", nargs=2, default=None, help=argparse.SUPPRESS)  # a catalog's root, its size
    args = parser.parse_args()
    if args.read is not None:
        read(args.read[0], int(args.read[1]))
    elif args.one is not None:
        one(args.one)
    elif args.one_catalog is not None:
        catalog_read(args.one_catalog)
    else:
        flag, sizes = ("--one-catalog", args.catalog) if args.catalog else ("--one", args.sizes)
        for n in (int(text) for text in sizes.split(",")):
            subprocess.run([sys.executable, __file__, flag, str(n)], check=True, timeout=3600)


if __name__ == "__main__":
    main()
