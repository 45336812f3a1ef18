"""The DuckDB catalog: an `artifacts` registry with provenance and one view per table (DESIGN §5).

`catalog.duckdb` lives at the catalog root. Writers register artifacts under an exclusive file lock
held for milliseconds; readers open the database read-only under a shared lock, so two processes
writing one catalog both finish, one briefly waiting for the other. A lock not obtained within
`lock_timeout_s` fails with a message naming the catalog and the holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from physflow.data_catalog.artifacts import ArtifactStore, Manifest
from physflow.data_catalog.blobs import resolve_sql
from physflow.data_catalog.schemas import CATALOG_SCHEMA_VERSION, CLIPS, TABLES, TableSpec
from physflow.data_catalog.storage import Root
from physflow.data_catalog.views import create_joined_views, view_name

CATALOG_FILE = "catalog.duckdb"
LOCK_FILE = "catalog.lock"
EMPTY_DIR = "artifacts/_empty"

_REGISTRY_DDL = """
CREATE TABLE IF NOT EXISTS physflow_meta (name VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS artifacts (
    key VARCHAR PRIMARY KEY, stage VARCHAR, version INTEGER, table_name VARCHAR, table_version INTEGER,
    shard VARCHAR, config JSON, inputs JSON, weights JSON, rows BIGINT, bytes BIGINT,
    content_sha256 VARCHAR, path VARCHAR, stats JSON, flow_run_id VARCHAR, created_at TIMESTAMPTZ
);
"""


class CatalogVersionError(RuntimeError):
    """The catalog was written by a newer physflow than this one."""


class CatalogLockTimeoutError(TimeoutError):
    """Another process held the catalog lock for longer than the timeout."""


class Catalog:
    """One catalog root: artifact store, blob store and the DuckDB registry over them."""

    def __init__(self, root: str | os.PathLike[str] | Root, lock_timeout_s: float = 120.0):
        self.root = root if isinstance(root, Root) else Root(root)
        self.artifacts = ArtifactStore(self.root)
        self.lock_timeout_s = lock_timeout_s
        self.db_path = self.root.local_path(CATALOG_FILE)
        self._lock_path = self.root.local_path(LOCK_FILE)

    # -- locking -------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self.lock_timeout_s
            mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
            while True:
                try:
                    fcntl.flock(fd, mode)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                        raise CatalogLockTimeoutError(
                            f"catalog {self.db_path} is locked by another process ({holder}) for over "
                            f"{self.lock_timeout_s:.0f} s; wait for it to finish or raise the lock timeout"
                        ) from None
                    time.sleep(0.05)
            if exclusive:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    # -- reading -------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (shared lock); creates an empty catalog first if none exists."""
        if not self.db_path.exists():
            with self.writer():
                pass
        with self._locked(exclusive=False):
            con = duckdb.connect(str(self.db_path), read_only=True)
            try:
                self._check_version(con)
                yield con
            finally:
                con.close()

    def query(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """Run one read-only SQL statement; a statement that writes fails."""
        with self.reader() as con:
            return con.sql(sql, params=params or None).to_arrow_table()

    def table(self, name: str) -> pa.Table:
        """The current rows of table `name`."""
        _spec(name)
        return self.query(f'SELECT * FROM "{name}"')

    def tables(self) -> list[dict[str, Any]]:
        """Each table with its row count, artifact count and total bytes."""
        with self.reader() as con:
            stats = {
                r[0]: r[1:]
                for r in con.execute(
                    "SELECT table_name, count(*), sum(bytes) FROM current_artifacts GROUP BY table_name"
                ).fetchall()
            }
            out = []
            for name in TABLES:
                ((rows,),) = con.execute(f'SELECT count(*) FROM "{name}"').fetchall()
                n_art, n_bytes = stats.get(name, (0, 0))
                out.append({"table": name, "rows": rows, "artifacts": n_art, "bytes": int(n_bytes or 0)})
            return out

    # -- writing -------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection under the exclusive lock; held briefly."""
        with self._locked(exclusive=True):
            con = duckdb.connect(str(self.db_path))
            try:
                con.execute(_REGISTRY_DDL)
                self._check_version(con)
                con.execute(
                    "INSERT OR REPLACE INTO physflow_meta VALUES ('schema_version', ?)", [str(CATALOG_SCHEMA_VERSION)]
                )
                self._ensure_views(con)
                yield con
            finally:
                con.close()

    def register(self, manifest: Manifest) -> None:
        """Add one complete artifact to the registry and refresh its table's view. Idempotent."""
        with self.writer() as con:
            self._insert(con, manifest)
            self._refresh_view(con, _spec(manifest.table))

    def rebuild(self) -> int:
        """Re-register every complete artifact found on disk (after the DuckDB file was lost)."""
        manifests = self.artifacts.manifests()
        with self.writer() as con:
            for manifest in manifests:
                self._insert(con, manifest)
            for spec in TABLES.values():
                self._refresh_view(con, spec)
        return len(manifests)

    # -- internals -----------------------------------------------------------------------------------------------

    def _check_version(self, con: duckdb.DuckDBPyConnection) -> None:
        try:
            rows = con.execute("SELECT value FROM physflow_meta WHERE name = 'schema_version'").fetchall()
        except duckdb.CatalogException:
            return  # a new, empty catalog
        row = rows[0] if rows else None
        if row and int(row[0]) > CATALOG_SCHEMA_VERSION:
            raise CatalogVersionError(
                f"catalog {self.db_path} was written with catalog schema version {row[0]}, newer than this "
                f"physflow's {CATALOG_SCHEMA_VERSION}; upgrade physflow to read it"
            )

    @staticmethod
    def _insert(con: duckdb.DuckDBPyConnection, m: Manifest) -> None:
        con.execute(
            "INSERT OR REPLACE INTO artifacts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                m.key, m.stage, m.version, m.table, m.table_version, m.shard, json.dumps(m.config),
                json.dumps(m.inputs), json.dumps(m.weights), m.rows, m.bytes, m.content_sha256, m.path,
                json.dumps(m.stats), m.flow_run_id, m.created_at,
            ],
        )

    def _ensure_views(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            """CREATE OR REPLACE VIEW current_artifacts AS
               SELECT * FROM artifacts
               QUALIFY row_number() OVER (PARTITION BY stage, shard ORDER BY created_at DESC) = 1"""
        )
        existing = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        missing = [spec for spec in TABLES.values() if view_name(spec.name) not in existing]
        for spec in missing:
            self._refresh_view(con, spec)
        if missing or CLIPS not in existing:
            create_joined_views(con)

    def _empty_file(self, spec: TableSpec) -> str:
        path = self.root.local_path(EMPTY_DIR, f"{spec.name}-v{spec.version}.parquet")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            pq.write_table(spec.empty(), tmp)
            os.replace(tmp, path)
        return str(path)

    def _refresh_view(self, con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
        """View = rows of the newest artifact per (stage, shard), one row per table key, newest first; blob
        references in `*uri` columns resolved to locations under this root."""
        files = [r[0] for r in con.execute(
            "SELECT path FROM current_artifacts WHERE table_name = ? ORDER BY created_at", [spec.name]
        ).fetchall()]
        files = [self._empty_file(spec), *[f for f in files if Path(f).exists()]]
        listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        cols = ", ".join(self._column_sql(spec, c) for c in spec.schema.names)
        key = ", ".join(f't."{c}"' for c in spec.key)
        con.execute(
            f"""CREATE OR REPLACE VIEW "{view_name(spec.name)}" AS
                SELECT {cols} FROM read_parquet([{listing}], union_by_name = true, filename = '_file') t
                LEFT JOIN current_artifacts a ON a.path = t._file
                QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY a.created_at DESC NULLS LAST) = 1"""
        )

    def _column_sql(self, spec: TableSpec, name: str) -> str:
        column = f't."{name}"'
        if name.endswith("uri") and pa.types.is_string(spec.schema.field(name).type):
            return f'{resolve_sql(column, self.root.path(""))} AS "{name}"'
        return column


def _spec(name: str) -> TableSpec:
    from physflow.data_catalog.schemas import table_spec

    return table_spec(name)
