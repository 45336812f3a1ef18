"""`catalog sql` reads the catalog and nothing else: each way out is refused, naming the statement."""

from __future__ import annotations

import pyarrow as pa
import pytest

from physflow.data_catalog import Catalog
from physflow.data_catalog.schemas import TABLES
from physflow.data_catalog.sql import RefusedQueryError, SqlLimits, run_read_only


@pytest.fixture()
def catalog(tmp_path) -> Catalog:
    cat = Catalog(tmp_path / "catalog")
    rows = [{"video_id": "a1", "uri": "/v/a.mp4", "codec": "h264"}, {"video_id": "b2", "uri": "/v/b.mp4"}]
    m = cat.artifacts.write(stage="ingest", version=1, key="k1", table_name="videos", shard="s1", config={},
                            inputs=["s1"], table=pa.Table.from_pylist(rows, schema=TABLES["videos"].schema))
    cat.register(m)
    return cat


def test_queries_over_every_table_and_the_registry(catalog):
    for name in [*TABLES, "artifacts", "current_artifacts"]:
        got = run_read_only(catalog, f'SELECT count(*) AS n FROM "{name}"').table.to_pylist()
        assert got[0]["n"] == (2 if name == "videos" else 1 if "artifacts" in name else 0), name
        assert run_read_only(catalog, f'SELECT * FROM "{name}" LIMIT 1').table.num_rows <= 1
    got = run_read_only(catalog, "WITH v AS (FROM videos) SELECT video_id FROM v ORDER BY 1").table
    assert got.column("video_id").to_pylist() == ["a1", "b2"]
    assert run_read_only(catalog, "DESCRIBE videos").table.num_rows == len(TABLES["videos"].schema)


@pytest.mark.parametrize(("sql", "named"), [
    ("COPY (SELECT 1) TO '{out}/x.csv'", "COPY"),
    ("COPY videos TO '{root}/artifacts/x.csv'", "COPY"),
    ("ATTACH '{out}/other.duckdb' AS other", "ATTACH"),
    ("EXPORT DATABASE '{out}/dump'", "EXPORT"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("SET enable_external_access = true", "SET"),
    ("SET lock_configuration = false", "SET"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("CREATE TABLE t AS SELECT 1", "CREATE"),
    ("SELECT 1; SELECT 2", "exactly one statement"),
])
def test_statements_that_leave_the_catalog_are_refused(catalog, tmp_path, sql, named):
    with pytest.raises(RefusedQueryError, match=named):
        run_read_only(catalog, sql.format(out=tmp_path, root=catalog.root.base))
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "dump").exists()
    assert not (catalog.root.local_path("artifacts", "x.csv")).exists()


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_text('{root}/artifacts/ingest/../../fingerprints.sqlite')",
    "SELECT * FROM read_parquet('{root}/artifacts/ingest/*.parquet')",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM read_csv('{outside}')",
])
def test_files_outside_the_catalog_cannot_be_read(catalog, tmp_path, sql):
    outside = tmp_path / "secret.csv"
    outside.write_text("a,b\n1,2\n")
    with pytest.raises(RefusedQueryError, match=r"refused: SELECT .* tried to reach beyond the catalog"):
        run_read_only(catalog, sql.format(root=catalog.root.base, outside=outside))


def test_time_and_row_limits(catalog):
    with pytest.raises(RefusedQueryError, match=r"time limit of 0\.5 s"):
        run_read_only(catalog, "SELECT count(*) FROM range(10000000000) a", SqlLimits(timeout_s=0.5))
    result = run_read_only(catalog, "SELECT * FROM range(1000)", SqlLimits(max_rows=10))
    assert result.table.num_rows == 10 and result.truncated


def test_cli_prints_the_refusal(catalog):
    from typer.testing import CliRunner

    from physflow.flows.cli import app

    out = CliRunner().invoke(app, ["--catalog", catalog.root.base, "catalog", "sql", "COPY (SELECT 1) TO 'x.csv'"])
    assert out.exit_code == 2 and "refused: COPY statement" in out.output
    out = CliRunner().invoke(app, ["--catalog", catalog.root.base, "catalog", "sql", "SELECT count(*) FROM videos"])
    assert out.exit_code == 0 and "2" in out.output
