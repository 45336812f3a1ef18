"""A catalog copied, moved or mounted read-only elsewhere opens with the same rows, its blobs resolved there."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from physflow.data_catalog import Catalog
from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.schemas import TABLES

ROOT = Path(__file__).resolve().parents[2]


def _build(root: Path) -> str:
    cat = Catalog(root)
    blobs = BlobStore(cat.root)
    uri, _ = blobs.put_bytes(b"flow field", "npy")
    videos = pa.Table.from_pylist([{"video_id": "a1", "uri": "/v/a.mp4"}], schema=TABLES["videos"].schema)
    flows = pa.Table.from_pylist([{"clip_id": "a1:0-8", "method": "dis", "flow_uri": blobs.ref(uri)}],
                                 schema=TABLES["flows"].schema)
    for stage, table_name, table in (("ingest", "videos", videos), ("optical_flow", "flows", flows)):
        cat.register(cat.artifacts.write(stage=stage, version=1, key=f"k-{stage}", table_name=table_name,
                                         table=table, shard="s", config={}, inputs=["s"]))
    return blobs.ref(uri)


def _move(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
    shutil.rmtree(src)  # nothing may still point at the old place


def test_moved_catalog_reads_the_same_rows_under_its_new_root(tmp_path):
    ref = _build(tmp_path / "a")
    manifest = json.loads(next((tmp_path / "a" / "artifacts" / "ingest").glob("*.manifest.json")).read_text())
    assert manifest["path"] == "artifacts/ingest/k-ingest.parquet"
    _move(tmp_path / "a", tmp_path / "b")
    cat = Catalog(tmp_path / "b")
    assert cat.table("videos").column("video_id").to_pylist() == ["a1"]
    flow_uri = cat.table("flows").column("flow_uri")[0].as_py()
    assert flow_uri == str(tmp_path / "b" / ref) and Path(flow_uri).read_bytes() == b"flow field"
    assert cat.query("SELECT path FROM artifacts ORDER BY path").column("path").to_pylist() == [
        "artifacts/ingest/k-ingest.parquet", "artifacts/optical_flow/k-optical_flow.parquet"]
    cat.register(cat.artifacts.manifest("ingest", "k-ingest"))  # and it can be written where it is now
    assert cat.table("videos").num_rows == 1


def test_catalog_with_absolute_paths_still_reads_after_a_move(tmp_path):
    """Catalogs written before paths were relative hold absolute ones in manifests and registry."""
    _build(tmp_path / "a")
    cat = Catalog(tmp_path / "a")
    for path in (tmp_path / "a" / "artifacts").glob("*/*.manifest.json"):
        data = json.loads(path.read_text())
        path.write_text(json.dumps({**{k: v for k, v in data.items() if k != "blobs"},
                                    "path": str(path).replace(".manifest.json", ".parquet")}))
    con = duckdb.connect(str(cat.db_path))
    con.execute("UPDATE artifacts SET path = ? || path", [str(tmp_path / "a") + "/"])
    con.execute("DELETE FROM physflow_meta WHERE name = 'root'")
    con.close()
    _move(tmp_path / "a", tmp_path / "b")
    moved = Catalog(tmp_path / "b")
    assert moved.table("videos").column("video_id").to_pylist() == ["a1"]
    assert moved.artifacts.read("optical_flow", "k-optical_flow").num_rows == 1
    from physflow.data_catalog.verify import verify_catalog

    assert verify_catalog(moved, grace_s=0).clean  # blob references found in the data of old manifests


READ_ONLY_CHECK = textwrap.dedent("""
    import json, sys
    from physflow.data_catalog import Catalog
    from physflow.data_catalog.sql import run_read_only
    cat = Catalog(sys.argv[1])
    rows = cat.query("SELECT video_id FROM videos").to_pylist()
    flow = run_read_only(cat, "SELECT flow_uri FROM flows").table.to_pylist()
    print(json.dumps({"rows": rows, "flow": flow}))
""")


@pytest.mark.timeout(120)
def test_read_only_mount_of_a_moved_catalog(tmp_path):
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], check=False).returncode:
        pytest.skip("needs `unshare -rm` to mount a folder read-only without privileges")
    ref = _build(tmp_path / "a")
    _move(tmp_path / "a", tmp_path / "ro")
    ro = tmp_path / "ro"
    script = tmp_path / "check.py"
    script.write_text(READ_ONLY_CHECK)
    mount = f"mount --bind {ro} {ro} && mount -o remount,bind,ro {ro} && touch {ro}/w 2>/dev/null; " \
            f"test ! -e {ro}/w && exec {sys.executable} {script} {ro}"
    out = subprocess.run(["unshare", "-rm", "sh", "-c", mount], capture_output=True, text=True, timeout=100,
                         check=False, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"rows": [{"video_id": "a1"}], "flow": [{"flow_uri": f"{ro}/{ref}"}]}


def test_a_copied_catalog_seals_a_change_without_reading_its_files_again(tmp_path, monkeypatch):
    """A copy keeps its fingerprints (remembered relative to the catalog): after a new registration there, the
    seal proves the files copied unread, as it would where the catalog was made."""
    from physflow.data_catalog import fingerprints

    _build(tmp_path / "a")
    assert Catalog(tmp_path / "a").seal()
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # sizes and mtimes kept
    hashed: list[str] = []
    real = fingerprints.hash_files
    monkeypatch.setattr(fingerprints, "hash_files", lambda paths: hashed.extend(paths) or real(paths))
    cat = Catalog(tmp_path / "b")
    videos = pa.Table.from_pylist([{"video_id": "b2", "uri": "/v/b.mp4"}], schema=TABLES["videos"].schema)
    cat.register(cat.artifacts.write(stage="ingest", version=1, key="k-new", table_name="videos", table=videos,
                                     shard="t", config={}, inputs=["t"]))
    assert cat.seal() and cat.seal_holds()
    assert hashed == []  # the new artifact was remembered as written; the copied files by their copy
    assert sorted(cat.table("videos").column("video_id").to_pylist()) == ["a1", "b2"]
