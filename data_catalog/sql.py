"""SQL from a person over a catalog, which can only read the catalog (`physflow catalog sql`).

Two walls, each enough alone for the statements they cover:

1. The statement: exactly one SELECT (with, values, from-first, describe, summarize, show are SELECTs);
   COPY, ATTACH, EXPORT, INSTALL, LOAD, SET, PRAGMA, CALL and every writing statement are refused before
   DuckDB runs anything, with an error naming the statement.
2. The connection: the database opened read-only; external access off except the very files the views read
   (`allowed_paths`: the current artifacts and the empty-table files; not a whole folder, since DuckDB does
   not resolve `..` in an allowed directory's paths), so table functions such as read_csv cannot read other
   files; no extension installed or loaded automatically; the configuration locked, so no statement turns it
   back on.

A query runs under a time limit (interrupted when it passes) and returns at most `max_rows` rows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from physflow.data_catalog.catalog import EMPTY_DIR, Catalog

MAX_SQL_CHARS = 100_000


class RefusedQueryError(ValueError):
    """A statement that `catalog sql` does not run, or one that tried to reach beyond the catalog."""


@dataclass(frozen=True)
class SqlLimits:
    timeout_s: float = 60.0  # wall-clock limit of one statement
    max_rows: int = 100_000  # rows returned at most (more are cut, and `truncated` says so)
    memory_limit: str = "4GB"  # DuckDB's memory limit for the statement


@dataclass(frozen=True)
class SqlResult:
    table: pa.Table
    truncated: bool


def run_read_only(catalog: Catalog, sql: str, limits: SqlLimits | None = None) -> SqlResult:
    """Run one SELECT over the catalog's tables, views and registry; anything else is refused."""
    limits = limits or SqlLimits()
    statement = _single_select(sql)
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
              "allow_community_extensions": False, "allow_unsigned_extensions": False}
    with catalog.reader(config=config) as con:
        _lock_down(con, catalog, limits)
        timer = threading.Timer(limits.timeout_s, con.interrupt)
        timer.start()
        try:
            reader = con.sql(statement).to_arrow_reader(min(limits.max_rows + 1, 1 << 16))
            batches, rows = [], 0
            for batch in reader:
                batches.append(batch)
                rows += batch.num_rows
                if rows > limits.max_rows:
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.InterruptException:
            raise RefusedQueryError(f"query stopped after the time limit of {limits.timeout_s:g} s: "
                                    f"{_short(statement)}") from None
        except duckdb.PermissionException as exc:
            raise RefusedQueryError(f"refused: {_short(statement)} tried to reach beyond the catalog "
                                    f"({str(exc).splitlines()[0]}); catalog sql reads only the catalog's tables"
                                    ) from None
        finally:
            timer.cancel()
    return SqlResult(table.slice(0, limits.max_rows), table.num_rows > limits.max_rows)


def _single_select(sql: str) -> str:
    if len(sql) > MAX_SQL_CHARS:
        raise RefusedQueryError(f"refused: the statement is {len(sql)} characters, more than {MAX_SQL_CHARS}")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise RefusedQueryError(str(exc).splitlines()[0]) from None
    if len(statements) != 1:
        raise RefusedQueryError(f"refused: catalog sql runs exactly one statement, got {len(statements)}")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        verb = statement.query.split(None, 1)[0].upper() if statement.query.strip() else str(statement.type)
        raise RefusedQueryError(f"refused: {verb} statement ({_short(statement.query)}); catalog sql runs one "
                                "read-only SELECT over the catalog")
    return statement.query


def _lock_down(con: duckdb.DuckDBPyConnection, catalog: Catalog, limits: SqlLimits) -> None:
    """External access only to the files the views read, limits set, then the configuration locked."""
    files = [catalog.root.url(catalog.artifact_file(r[0]))
             for r in con.execute("SELECT path FROM current_artifacts").fetchall()]
    files += [str(p) for p in sorted(catalog.root.local_path(EMPTY_DIR).glob("*.parquet"))]
    con.execute("SET allowed_paths = ?", [files])
    con.execute("SET enable_external_access = false")
    con.execute("SET memory_limit = ?", [limits.memory_limit])
    con.execute("SET lock_configuration = true")


def _short(text: str, n: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."
