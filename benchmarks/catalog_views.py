"""Binding a table's view against the number of artifact files it lists, read by position and by name.

    .venv/bin/python benchmarks/catalog_views.py [N,N,...]   (default 2000,10000)

For each N: a catalog whose `videos` table has N artifacts of 16 rows (registered together, views rebuilt once),
then, in a process of its own (a process's peak RSS never falls), the view rebuilt (`refresh_views`) and a
query that binds it and reads one row, timed, with the peak RSS they add. Then the same after one artifact of an
older table version (without the `codec` column) joins them, which makes the view unify the files' columns by
name: DuckDB opens every file's footer to bind it, at each query.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(root: Path, n: int, older: bool) -> None:
    import pyarrow as pa

    from physflow.data_catalog import Catalog, artifacts
    from physflow.data_catalog.schemas import TABLES

    catalog, spec = Catalog(root), TABLES["videos"]
    manifests = []
    for i in range(n):
        rows = [{"video_id": f"v{i:06d}-{j:02d}", "uri": f"/videos/{i}/{j}.mp4", "codec": "h264"} for j in range(16)]
        manifests.append(catalog.artifacts.write(stage="ingest", version=1, key=f"k{i}", table_name="videos",
                                                 table=pa.Table.from_pylist(rows, schema=spec.schema),
                                                 shard=f"s{i}", config={}, inputs=[f"s{i}"]))
    if older:  # an artifact written under the table's previous version, without the codec column
        old = dataclasses.replace(spec, version=spec.version - 1,
                                  schema=spec.schema.remove(spec.schema.get_field_index("codec")))
        write_spec = artifacts.table_spec
        artifacts.table_spec = lambda name: old
        try:
            manifests.append(catalog.artifacts.write(
                stage="ingest", version=1, key="old", table_name="videos", shard="s-old", config={}, inputs=["s-old"],
                table=pa.Table.from_pylist([{"video_id": "old", "uri": "/videos/old.mp4"}], schema=old.schema)))
        finally:
            artifacts.table_spec = write_spec
    catalog.register_all(manifests, views=False)


def measure(root: Path, n: int, older: bool) -> None:
    from physflow.data_catalog import Catalog

    catalog = Catalog(root)
    catalog.query("SELECT 1")  # the registry opened, its DuckDB made
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with catalog.writer() as con:  # as `refresh_views` rebuilds a stale view
        con.execute("INSERT OR REPLACE INTO physflow_meta VALUES ('stale_view:videos', '1')")
    t0 = time.perf_counter()
    catalog.refresh_views()
    t1 = time.perf_counter()
    rows = catalog.query("SELECT video_id FROM videos LIMIT 1").num_rows
    t2 = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sql = catalog.query("SELECT sql FROM duckdb_views() WHERE view_name = 'videos'").column("sql")[0].as_py()
    columns = "by name" if "union_by_name = true" in sql else "by position"
    print(f"{n:>7} files{' + 1 older' if older else ''} ({columns}): view rebuilt in {t1 - t0:.2f} s, a query bound "
          f"and read {rows} row in {t2 - t1:.2f} s; peak RSS +{after - before:.0f} MiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", nargs="?", default="2000,10000", help="artifact files, comma-separated")
    parser.add_argument("--measure", nargs=3, default=None, help=argparse.SUPPRESS)  # root, n, older
    args = parser.parse_args()
    if args.measure:
        measure(Path(args.measure[0]), int(args.measure[1]), args.measure[2] == "1")
        return
    for n in (int(text) for text in args.sizes.split(",")):
        for older in (False, True):
            with tempfile.TemporaryDirectory(prefix="physflow-bench-views-") as tmp:
                build(Path(tmp) / "catalog", n, older)
                subprocess.run([sys.executable, __file__, "--measure", str(Path(tmp) / "catalog"), str(n),
                                "1" if older else "0"], check=True, timeout=3600)


if __name__ == "__main__":
    main()
