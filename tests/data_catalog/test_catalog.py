import dataclasses
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import duckdb
import pyarrow as pa
import pytest

from physflow.data_catalog import Catalog, CatalogVersionError, artifacts
from physflow.data_catalog import catalog as catalog_module
from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.schemas import CATALOG_SCHEMA_VERSION, TABLES


def _videos(ids: list[str], codec: str = "h264") -> pa.Table:
    return pa.Table.from_pylist([{"video_id": i, "uri": f"/v/{i}", "codec": codec} for i in ids],
                                schema=TABLES["videos"].schema)


def _write(cat: Catalog, key: str, table: pa.Table, shard: str) -> None:
    m = cat.artifacts.write(stage="ingest", version=1, key=key, table_name="videos", table=table, shard=shard,
                            config={}, inputs=[shard])
    cat.register(m)


def test_empty_catalog_has_every_table(tmp_path):
    cat = Catalog(tmp_path)
    names = {t["table"] for t in cat.tables()}
    assert names == set(TABLES)
    assert cat.table("videos").schema.names == TABLES["videos"].schema.names
    assert cat.table("videos").num_rows == 0


def test_a_new_catalogs_views_read_no_file_and_type_columns_as_the_tables_files(tmp_path):
    """A table without artifacts is a view of typed NULLs, no row and no file read (a new catalog wrote and bound an
    empty Parquet file per table); its columns carry the types DuckDB reads from the table's files, so a query
    binds the same before and after the first artifact (fixed-size lists read as lists)."""
    import pyarrow.parquet as pq

    from physflow.data_catalog.catalog import EMPTY_DIR

    cat = Catalog(tmp_path / "catalog")
    cat.create()
    assert not cat.root.local_path(EMPTY_DIR).exists()
    con = duckdb.connect(str(cat.db_path), read_only=True)
    try:
        for name, spec in TABLES.items():
            pq.write_table(spec.empty(), tmp_path / f"{name}.parquet")
            files = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{tmp_path / name}.parquet')").fetchall()
            view = con.execute(f'DESCRIBE "{name}"').fetchall()
            assert [(c[0], c[1]) for c in view] == [(c[0], c[1]) for c in files], name
            assert con.execute(f'SELECT count(*) FROM "{name}"').fetchone() == (0,)
    finally:
        con.close()
    _write(cat, "k1", _videos(["a"]), "s1")
    assert cat.table("videos").column("video_id").to_pylist() == ["a"]
    assert cat.table("poses").num_rows == 0
    # a column type the typed view does not know is read from the table's empty file, as before
    odd = dataclasses.replace(TABLES["videos"], name="odd", schema=pa.schema([("x", pa.float16())]))
    assert catalog_module._no_rows(odd) is None


def test_create_makes_a_new_catalogs_registry_once_and_registering_meets_it(tmp_path):
    """`create` (which the ingest flow runs beside its probing) makes the registry and every view of a new catalog,
    leaves an existing one alone, and a registration racing it waits for it on the catalog's lock."""
    cat = Catalog(tmp_path)
    with ThreadPoolExecutor(2) as pool:
        created = pool.submit(cat.create)
        _write(cat, "k1", _videos(["a"]), "s1")
        created.result()
    stamp = cat.db_path.stat().st_mtime_ns
    cat.create()
    assert cat.db_path.stat().st_mtime_ns == stamp
    assert {t["table"] for t in cat.tables()} == set(TABLES)
    assert cat.table("videos").column("video_id").to_pylist() == ["a"]


def test_a_new_registry_made_in_one_script_is_what_a_writer_session_makes_of_an_empty_file(tmp_path):
    """`create` runs one script (thirty statements handed the GIL back and forth thirty times); the registry it
    makes has the same tables, views and meta rows as the writer session that made new registries before."""
    made = Catalog(tmp_path / "made")
    made.create()
    session = Catalog(tmp_path / "session")
    session.root.local_path("").mkdir(parents=True, exist_ok=True)
    with session._session(session.db_path, relocate=False):
        pass

    def contents(cat):
        con = duckdb.connect(str(cat.db_path), read_only=True)
        try:
            return (con.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall(),
                    con.execute("SELECT table_name, sql FROM duckdb_tables() ORDER BY 1").fetchall(),
                    con.execute("SELECT name, replace(value, ?, '<root>') FROM physflow_meta ORDER BY 1",
                                [cat.root.base]).fetchall())
        finally:
            con.close()

    views, tables, meta = contents(made)
    assert (views, tables, meta) == contents(session)
    assert {name for name, _ in views} >= {"current_artifacts", "clips", *(n for n in TABLES if n != "clips")}
    assert dict(meta) == {"root": "<root>", "schema_version": str(CATALOG_SCHEMA_VERSION)}


def test_a_registry_made_halfway_leaves_no_registry_file(tmp_path, monkeypatch):
    """A new catalog's registry is made in a temporary file renamed into place: a maker that stops halfway (killed,
    or failing) leaves no registry file that readers would take for a catalog without tables, and the next maker
    removes a temporary file a killed one left."""
    cat = Catalog(tmp_path)
    killed = cat.db_path.with_name(f"{cat.db_path.name}.tmp-0123456789ab")
    killed.write_bytes(b"half a database")

    # the script's last view fails, after the tables and the other views were made
    monkeypatch.setattr(catalog_module, "joined_views_sql", lambda: "CREATE VIEW clips AS SELECT * FROM stopped_here")
    with pytest.raises(duckdb.CatalogException, match="stopped_here"):
        cat.create()
    assert not cat.db_path.exists()
    assert list(tmp_path.glob(f"{cat.db_path.name}.tmp-*")) == []
    monkeypatch.undo()
    assert cat.table("videos").num_rows == 0


def test_views_show_newest_artifact_per_shard(tmp_path):
    cat = Catalog(tmp_path)
    _write(cat, "k1", _videos(["a", "b"]), "s1")
    _write(cat, "k2", _videos(["c"]), "s2")
    assert sorted(cat.table("videos").column("video_id").to_pylist()) == ["a", "b", "c"]
    _write(cat, "k3", _videos(["a", "b"], codec="vp9"), "s1")  # recomputed shard s1 (another config)
    rows = cat.query("SELECT video_id, codec FROM videos ORDER BY video_id").to_pylist()
    assert rows == [{"video_id": "a", "codec": "vp9"}, {"video_id": "b", "codec": "vp9"},
                    {"video_id": "c", "codec": "h264"}]
    assert cat.query("SELECT count(*) AS n FROM artifacts").to_pylist() == [{"n": 3}]


def test_a_view_unifies_columns_by_name_only_while_an_older_versions_artifact_is_current(tmp_path, monkeypatch):
    """Artifacts of the table's current version share its schema: their view binds on it without reading each
    file's footer. One written under an older version (here without the `codec` column) makes the view unify the
    files' columns by name, its rows showing NULL where it had no column, until a current artifact replaces it."""
    cat = Catalog(tmp_path)

    def view_sql() -> str:
        return cat.query("SELECT sql FROM duckdb_views() WHERE view_name = 'videos'").column("sql")[0].as_py()

    _write(cat, "k1", _videos(["a"]), "s1")
    assert "union_by_name = false" in view_sql()
    spec = TABLES["videos"]
    older = dataclasses.replace(spec, version=spec.version - 1,
                                schema=spec.schema.remove(spec.schema.get_field_index("codec")))
    with monkeypatch.context() as patch:
        patch.setattr(artifacts, "table_spec", lambda name: older)
        _write(cat, "k2", pa.Table.from_pylist([{"video_id": "b", "uri": "/v/b"}], schema=older.schema), "s2")
    assert "union_by_name = true" in view_sql()
    rows = cat.query("SELECT video_id, codec FROM videos ORDER BY video_id").to_pylist()
    assert rows == [{"video_id": "a", "codec": "h264"}, {"video_id": "b", "codec": None}]
    _write(cat, "k3", _videos(["b"], codec="vp9"), "s2")  # the shard computed again: every artifact current
    assert "union_by_name = false" in view_sql()
    assert cat.query("SELECT codec FROM videos WHERE video_id = 'b'").to_pylist() == [{"codec": "vp9"}]


def test_shards_registered_without_their_view_read_through_a_temporary_one_until_refreshed(tmp_path):
    """A stage's shards register with `views=False` (their flow rebuilds each table's view once, when the stage
    ends): until then the view in the file is stale, and readers see every registered shard through a temporary
    view; `refresh_views` rebuilds the stale views in the file and clears the marks."""
    cat = Catalog(tmp_path)
    _write(cat, "k1", _videos(["a"]), "s1")
    for key, vid, shard in (("k2", "b", "s2"), ("k3", "c", "s3")):
        m = cat.artifacts.write(stage="ingest", version=1, key=key, table_name="videos", table=_videos([vid]),
                                shard=shard, config={}, inputs=[shard])
        cat.register(m, views=False)

    def in_file() -> tuple[list[str], list[str]]:
        con = duckdb.connect(str(cat.db_path), read_only=True)
        try:
            ids = sorted(r[0] for r in con.execute("SELECT video_id FROM videos").fetchall())
            marks = [r[0] for r in con.execute("SELECT name FROM physflow_meta WHERE name LIKE 'stale_view:%'")
                     .fetchall()]
            return ids, marks
        finally:
            con.close()

    assert in_file() == (["a"], ["stale_view:videos"])
    assert sorted(cat.table("videos").column("video_id").to_pylist()) == ["a", "b", "c"]
    assert cat.query("SELECT count(*) AS n FROM clips").column("n").to_pylist() == [0]  # joined views still bind
    cat.refresh_views()
    assert in_file() == (["a", "b", "c"], [])
    stamp = cat.db_path.stat().st_mtime_ns
    cat.refresh_views()  # nothing stale: the file is not opened for writing
    assert cat.db_path.stat().st_mtime_ns == stamp
    assert sorted(cat.table("videos").column("video_id").to_pylist()) == ["a", "b", "c"]


def test_a_view_lists_only_artifacts_whose_data_is_present(tmp_path):
    cat = Catalog(tmp_path)
    _write(cat, "k1", _videos(["a"]), "s1")
    _write(cat, "k2", _videos(["b"]), "s2")
    (tmp_path / "artifacts" / "ingest" / "k2.parquet").rename(tmp_path / "k2.parquet")
    _write(cat, "k3", _videos(["c"]), "s3")  # its view is rebuilt without the file that is gone
    con = duckdb.connect(str(cat.db_path), read_only=True)
    try:
        assert sorted(r[0] for r in con.execute("SELECT video_id FROM videos").fetchall()) == ["a", "c"]
    finally:
        con.close()


def test_reader_is_read_only(tmp_path):
    cat = Catalog(tmp_path)
    with pytest.raises(duckdb.Error):
        cat.query("CREATE TABLE x (a INT)")


def test_readers_share_no_state_and_let_the_file_go(tmp_path):
    """Readers attach the file to a DuckDB their thread keeps: what one creates ends with it, readers nest and
    run in threads at once, and after the last one another process can write the file."""
    cat = Catalog(tmp_path)
    _write(cat, "k1", _videos(["a"]), "s1")
    with cat.reader() as con:
        con.execute("CREATE TEMP VIEW mine AS SELECT 1 AS x")
        with cat.reader() as inner:
            assert inner.execute("SELECT count(*) FROM videos").fetchall() == [(1,)]
        assert con.execute("SELECT x FROM mine").fetchall() == [(1,)]
    with cat.reader() as con, pytest.raises(duckdb.CatalogException):
        con.execute("SELECT x FROM mine")

    def read(_: int) -> list[str]:
        return [cat.query("SELECT video_id FROM videos").column("video_id").to_pylist()[0] for _ in range(10)]

    with ThreadPoolExecutor(4) as pool:
        assert all(ids == ["a"] * 10 for ids in pool.map(read, range(4)))
    write = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('CREATE TABLE other (a INT)').close()"
    subprocess.run([sys.executable, "-c", write, str(cat.db_path)], check=True, timeout=60)
    _write(cat, "k2", _videos(["b"]), "s2")  # and this process writes again after its reads
    assert cat.query("SELECT count(*) AS n FROM videos").to_pylist() == [{"n": 2}]


def test_readers_in_threads_attach_to_one_duckdb(tmp_path):
    """Readers of local catalogs in any thread attach to one in-memory DuckDB the process keeps (an instance a
    thread kept its memory and a thread of its own each): a reader sees what another thread has attached
    meanwhile, each through its own connection."""
    cats = {name: Catalog(tmp_path / name) for name in ("a", "b")}
    for name, cat in cats.items():
        _write(cat, f"k-{name}", _videos([name]), name)
    both_open = threading.Barrier(2)
    seen: dict[str, list[str]] = {}

    def read(name: str) -> None:
        with cats[name].reader() as con:
            both_open.wait(timeout=30)
            seen[name] = [r[0] for r in con.execute(
                "SELECT database_name FROM duckdb_databases() WHERE NOT internal AND database_name LIKE 'catalog_%'"
            ).fetchall()]
            assert con.execute("SELECT video_id FROM videos").fetchall() == [(name,)]
            both_open.wait(timeout=30)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(read, cats))
    assert len(seen["a"]) == len(seen["b"]) == 2


def test_a_writer_session_lands_whole_or_not_at_all_and_lets_the_file_go(tmp_path):
    """A writer session (the registry attached to the process's writer DuckDB, detached at its end) commits once at
    its end; one that fails leaves nothing of what it wrote; after either, another process can write the file, and
    this process writes again after it."""
    cat = Catalog(tmp_path)
    _write(cat, "k1", _videos(["a"]), "s1")
    with pytest.raises(RuntimeError, match="stopped"), cat.writer() as con:
        con.execute("INSERT INTO physflow_meta VALUES ('half', 'written')")
        raise RuntimeError("stopped in the middle of a session")
    other = ("import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
             "print(con.execute(\"SELECT count(*) FROM physflow_meta WHERE name = 'half'\").fetchone()[0]); "
             "con.execute('CREATE TABLE other (a INT)'); con.close()")
    out = subprocess.run([sys.executable, "-c", other, str(cat.db_path)], check=True, timeout=60,
                         capture_output=True, text=True).stdout
    assert out.strip() == "0"
    _write(cat, "k2", _videos(["b"]), "s2")
    assert sorted(cat.table("videos").column("video_id").to_pylist()) == ["a", "b"]


def test_newer_schema_is_refused(tmp_path):
    cat = Catalog(tmp_path)
    cat.tables()
    con = duckdb.connect(str(cat.db_path))
    con.execute("UPDATE physflow_meta SET value = ? WHERE name = 'schema_version'", [str(CATALOG_SCHEMA_VERSION + 1)])
    con.close()
    with pytest.raises(CatalogVersionError, match="newer"):
        cat.tables()


def test_a_writer_makes_sure_of_the_registry_again_only_after_another_process_wrote_it(tmp_path, monkeypatch):
    """A writer session finding the registry file as this process's last one left it does not make sure of its
    tables, version and views again; after another process wrote it (here: dropped a view, and then made the
    catalog newer than this physflow), the next session does."""
    cat = Catalog(tmp_path)
    checks: list[str] = []
    ensure = Catalog._ensure_views
    monkeypatch.setattr(Catalog, "_ensure_views", lambda self, con: (checks.append("views"), ensure(self, con))[1])
    for i in range(3):
        _write(cat, f"k{i}", _videos([f"v{i}"]), f"s{i}")
    assert checks == ["views"]  # the first session's only
    other = "import duckdb, sys; con = duckdb.connect(sys.argv[1]); con.execute(sys.argv[2]); con.close()"
    subprocess.run([sys.executable, "-c", other, str(cat.db_path), "DROP VIEW videos"], check=True, timeout=60)
    _write(cat, "k3", _videos(["v3"]), "s3")
    assert checks == ["views", "views"]
    assert sorted(cat.table("videos").column("video_id").to_pylist()) == ["v0", "v1", "v2", "v3"]
    newer = f"UPDATE physflow_meta SET value = '{CATALOG_SCHEMA_VERSION + 1}' WHERE name = 'schema_version'"
    subprocess.run([sys.executable, "-c", other, str(cat.db_path), newer], check=True, timeout=60)
    with pytest.raises(CatalogVersionError, match="newer"):
        _write(cat, "k4", _videos(["v4"]), "s4")


def test_rebuild_restores_a_lost_database(tmp_path):
    cat = Catalog(tmp_path)
    _write(cat, "k1", _videos(["a"]), "s1")
    cat.db_path.unlink()
    assert Catalog(tmp_path).rebuild() == 1
    assert Catalog(tmp_path).table("videos").column("video_id").to_pylist() == ["a"]


def test_blob_store_is_content_addressed(tmp_path):
    cat = Catalog(tmp_path)
    blobs = BlobStore(cat.root)
    uri, sha = blobs.put_bytes(b"flow field", "npy")
    assert uri.endswith(f"blobs/{sha[:2]}/{sha}.npy")
    assert blobs.put_bytes(b"flow field", "npy") == (uri, sha)
    assert blobs.read_bytes(uri) == b"flow field"


def test_rows_hold_blob_references_that_views_resolve_under_their_root(tmp_path):
    """Two catalogs holding the same blob write the same rows (bytes); each view resolves them under its root."""
    written = {}
    for name in ("a", "b"):
        cat = Catalog(tmp_path / name)
        blobs = BlobStore(cat.root)
        uri, sha = blobs.put_bytes(b"flow field", "npy")
        ref = blobs.ref(uri)
        assert ref == f"blobs/{sha[:2]}/{sha}.npy" and blobs.resolve(ref) == uri and blobs.read_bytes(ref) == b"flow field"
        row = {"clip_id": "v:0-8", "method": "dis", "flow_uri": ref, "flow_rgb_uri": "/elsewhere/rgb.mp4"}
        m = cat.artifacts.write(stage="optical_flow", version=1, key="k", table_name="flows", shard="s", config={},
                                inputs=["s"], table=pa.Table.from_pylist([row], schema=TABLES["flows"].schema))
        cat.register(m)
        written[name] = m.content_sha256
        got = cat.query("SELECT flow_uri, flow_rgb_uri FROM flows").to_pylist()
        assert got == [{"flow_uri": uri, "flow_rgb_uri": "/elsewhere/rgb.mp4"}]  # other paths pass through
        assert blobs.resolve_row(row)["flow_uri"] == uri
    assert written["a"] == written["b"]
    with pytest.raises(ValueError, match="not a blob"):
        BlobStore(Catalog(tmp_path / "a").root).ref(str(tmp_path / "b" / "blobs" / "x.npy"))


def test_the_process_duckdb_instances_close_between_uses_and_come_back(tmp_path):
    """`release_instances` (a batched flow, between batches) closes the process's writer and readers' DuckDB
    instances that no session uses, which an instance kept for the life of the process otherwise held with its
    threads; a session in progress keeps its instance open; the next session makes one again."""
    from physflow.data_catalog import catalog as catalog_module

    cat, other = Catalog(tmp_path / "read"), Catalog(tmp_path / "written")
    _write(cat, "k1", _videos(["a"]), "s1")
    assert cat.table("videos").column("video_id").to_pylist() == ["a"]
    with cat.reader() as con, other.writer():
        catalog_module.release_instances()  # both in use: neither closes
        assert catalog_module._ATTACHED.db is not None and catalog_module._WRITER.db is not None
        assert con.execute("SELECT video_id FROM videos").fetchall() == [("a",)]
    catalog_module.release_instances()
    assert catalog_module._ATTACHED.db is None and catalog_module._WRITER.db is None
    _write(cat, "k2", _videos(["b"]), "s2")
    assert sorted(cat.table("videos").column("video_id").to_pylist()) == ["a", "b"]
