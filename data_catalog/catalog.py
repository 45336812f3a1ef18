"""The DuckDB catalog: an `artifacts` registry with provenance and one view per table (DESIGN §5).

`catalog.duckdb` lives at the catalog root. Writers register artifacts under an exclusive file lock
held for milliseconds; readers open the database read-only under a shared lock, so two processes
writing one catalog both finish, one briefly waiting for the other. A lock not obtained within
`lock_timeout_s` fails with a message naming the catalog and the holder.

Every read of the views first checks the current artifacts (size, and sha256 when changed since last
verified): a damaged one is quarantined and leaves the registry, so no query reads it and its stage
recomputes it. The registry holds catalog-relative paths and the root the views were built for; a catalog
copied or mounted elsewhere rebuilds its views on the first writable open, or in temporary views of each
read-only connection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import itertools
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from physflow.data_catalog import seal as sealing
from physflow.data_catalog.artifacts import ARTIFACTS_DIR, ArtifactStore, Manifest
from physflow.data_catalog.blobs import resolve_sql, sql_string
from physflow.data_catalog.integrity import DamagedFileError, FileChecker, vouch
from physflow.data_catalog.schemas import CATALOG_SCHEMA_VERSION, CLIPS, TABLES, TableSpec
from physflow.data_catalog.storage import TEMP_MARK, Root
from physflow.data_catalog.views import create_joined_views, joined_views_sql, view_name

CATALOG_FILE = "catalog.duckdb"
LOCK_FILE = "catalog.lock"
EMPTY_DIR = "artifacts/_empty"
STALE_VIEW = "stale_view:"
"""Prefix of the `physflow_meta` rows naming a table whose view does not yet list every registered artifact
(`register(..., views=False)`): readers see the table through a temporary view that does, until
`refresh_views` rebuilds it."""

log = logging.getLogger("physflow.catalog")

_CHECKED: dict[tuple[str, str], tuple[int, int, int]] = {}
"""(root, artifact key) -> (data size, data mtime, manifest mtime) when this process last found it intact."""

_CURRENT_ARTIFACTS_DDL = """CREATE VIEW current_artifacts AS
    SELECT * FROM artifacts
    QUALIFY row_number() OVER (PARTITION BY stage, shard ORDER BY created_at DESC) = 1"""

_REGISTRY_DDL = """
CREATE TABLE IF NOT EXISTS physflow_meta (name VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS artifacts (
    key VARCHAR PRIMARY KEY, stage VARCHAR, version INTEGER, table_name VARCHAR, table_version INTEGER,
    shard VARCHAR, config JSON, inputs JSON, weights JSON, rows BIGINT, bytes BIGINT,
    content_sha256 VARCHAR, path VARCHAR, stats JSON, flow_run_id VARCHAR, created_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS artifact_items (
    artifact VARCHAR, stage VARCHAR, recipe VARCHAR, item VARCHAR, first_row BIGINT, rows BIGINT
);
"""


class _ThreadLock:
    """A catalog's lock among the threads of one process, taken before the lock file's (`Catalog._locked`): a
    thread that waits for another of its process is woken when that one lets go. On the lock file alone it waited
    in 50 ms steps, as for another process: a new catalog's first registration, which waits for its registry to be
    made on another thread (`found_inputs`), ended up to 50 ms after it, on the path of every cold curation. Shared
    holders share it, an exclusive one holds it alone; no waiting writer holds new readers back (as with `flock`)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False

    def acquire(self, exclusive: bool, deadline: float) -> bool:
        """Whether it was taken by `deadline` (`time.monotonic`)."""
        with self._cond:
            while self._writer or (exclusive and self._readers):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            if exclusive:
                self._writer = True
            else:
                self._readers += 1
            return True

    def release(self, exclusive: bool) -> None:
        with self._cond:
            if exclusive:
                self._writer = False
            else:
                self._readers -= 1
            self._cond.notify_all()


_THREAD_LOCKS: dict[str, _ThreadLock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(lock_file: Path) -> _ThreadLock:
    """The one `_ThreadLock` of this process for `lock_file` (whichever `Catalog` instance asks)."""
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(os.path.abspath(lock_file), _ThreadLock())


def _forget_thread_locks() -> None:
    """In a forked child: no lock of the parent's threads is held here."""
    global _THREAD_LOCKS_GUARD
    _THREAD_LOCKS.clear()
    _THREAD_LOCKS_GUARD = threading.Lock()


os.register_at_fork(after_in_child=_forget_thread_locks)


@dataclasses.dataclass
class _Pending:
    """One registration waiting for a writer session."""

    manifest: Manifest
    views: bool = True  # refresh the table's view in the same session (else mark it stale)
    done: bool = False
    error: Exception | None = None


@dataclasses.dataclass
class _CommitGroup:
    """The registrations of one catalog root in this process: at most one thread writes at a time."""

    cond: threading.Condition = dataclasses.field(default_factory=threading.Condition)
    queue: list[_Pending] = dataclasses.field(default_factory=list)
    busy: bool = False


_GROUPS: dict[str, _CommitGroup] = {}
_GROUPS_LOCK = threading.Lock()


def _commit_group(root: str) -> _CommitGroup:
    with _GROUPS_LOCK:
        return _GROUPS.setdefault(root, _CommitGroup())


class CatalogVersionError(RuntimeError):
    """The catalog was written by a newer physflow than this one."""


class CatalogLockTimeoutError(TimeoutError):
    """Another process, or another thread of this one, held the catalog lock for longer than the timeout."""


class Catalog:
    """One catalog root: artifact store, blob store and the DuckDB registry over them."""

    def __init__(self, root: str | os.PathLike[str] | Root, lock_timeout_s: float = 120.0):
        self.root = root if isinstance(root, Root) else Root(root)
        self.checker = FileChecker(self.root)
        self.artifacts = ArtifactStore(self.root, self.checker, on_damaged=self.forget)
        self.lock_timeout_s = lock_timeout_s
        self.db_path = self.root.local_path(CATALOG_FILE)
        self._lock_path = self.root.local_path(LOCK_FILE)

    # -- locking -------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        """The catalog's lock, shared or `exclusive`: first among this process's threads (`_ThreadLock`), then
        among processes (`flock` on the lock file, tried every 50 ms), both within `lock_timeout_s`."""
        deadline = time.monotonic() + self.lock_timeout_s
        threads = _thread_lock(self._lock_path)
        if not threads.acquire(exclusive, deadline):
            raise CatalogLockTimeoutError(f"catalog {self.db_path} is locked by another thread of this process for "
                                          f"over {self.lock_timeout_s:.0f} s; raise the lock timeout")
        try:
            with self._file_locked(exclusive, deadline):
                yield
        finally:
            threads.release(exclusive)

    @contextlib.contextmanager
    def _file_locked(self, exclusive: bool, deadline: float) -> Iterator[None]:
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            if exclusive:
                raise
            if not self._lock_path.exists():  # a read-only catalog without a lock file: nothing can write it
                yield
                return
            fd = os.open(self._lock_path, os.O_RDONLY)  # a read-only catalog (mount): shared locks still work
        try:
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
    def reader(self, config: dict[str, Any] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (shared lock) with DuckDB `config`; creates an empty catalog first if none
        exists. The current artifacts are checked first (see `_current_problems`); a damaged one is
        quarantined and a moved catalog that can be written gets its views rebuilt, both outside the
        shared lock, before the connection is opened again."""
        self.create()
        for attempt in (1, 2):
            with self._locked(exclusive=False), _read_only(self.db_path, config, self.root) as con:
                self._check_version(con)
                moved = self._moved(con)
                problems = self._current_problems(con) if attempt == 1 else []
                relocate = attempt == 1 and moved and self._writable()
                if not problems and not relocate:
                    if moved:
                        self._relocate_views(con, temp=True)
                    elif stale := _stale_tables(con):
                        for table in stale:
                            self._refresh_view(con, _spec(table), temp=True)
                        create_joined_views(con, temp=True)
                    yield con
                    return
            self._settle(problems, relocate)

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
    def writer(self, relocate: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection under the exclusive lock; held briefly. Rebuilds the views first when the
        catalog was moved (unless `relocate` is off: dropping a damaged artifact must not read it). A new catalog's
        registry is made first (`_make_registry`)."""
        with self._locked(exclusive=True):
            if not self.db_path.exists():
                self._make_registry()
            mine = (str(self.db_path), self.root.base)
            known = relocate and _LEFT_BY_ME.get(mine) == _registry_stamp(self.db_path)
            with self._session(self.db_path, relocate, known) as con:
                yield con
            if relocate:
                _LEFT_BY_ME[mine] = _registry_stamp(self.db_path)

    @contextlib.contextmanager
    def _session(self, path: Path, relocate: bool, known: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection to the registry file `path`, its tables, views and schema version made sure of,
        in one transaction committed when the block ends (`writer`, under the exclusive lock). `known`: the file
        is as this process's last writer session left it (`_LEFT_BY_ME`), after making sure of them for this root:
        not again (four statements of a small registration's dozen, each handing the GIL back and forth)."""
        with _attached_writable(path, self.root) as con:
            # One transaction: what a writer does lands whole or not at all, and commits once.
            con.execute("BEGIN TRANSACTION")
            if not known:
                con.execute(_REGISTRY_DDL)
                if self._check_version(con) != CATALOG_SCHEMA_VERSION:  # (an upsert costs a reader's ten: once)
                    con.execute(
                        "INSERT OR REPLACE INTO physflow_meta VALUES ('schema_version', ?)",
                        [str(CATALOG_SCHEMA_VERSION)],
                    )
                self._ensure_views(con)
                if relocate and self._moved(con):
                    self._relocate_views(con, temp=False)
            yield con
            con.execute("COMMIT")

    def _make_registry(self) -> None:
        """The registry and its views of a new catalog, made in a temporary file renamed into place (under the
        exclusive lock): a process killed while making them leaves no registry, never an empty one that readers
        would take for a catalog without tables. A temporary file a killed maker left is removed."""
        for stale in self.db_path.parent.glob(f"{self.db_path.name}{TEMP_MARK}*"):
            stale.unlink(missing_ok=True)
        work = self.db_path.with_name(f"{self.db_path.name}{TEMP_MARK}{uuid.uuid4().hex[:12]}")
        try:
            with _attached_writable(work, self.root) as con:
                con.execute(self._new_registry_sql())
            os.replace(work, self.db_path)
        finally:
            for leftover in (work, work.with_name(f"{work.name}.wal")):
                leftover.unlink(missing_ok=True)

    def _new_registry_sql(self) -> str:
        """One script that makes what a writer session (`_session`) makes of an empty file: the registry's tables,
        its schema version and root, and every view, in one transaction. Run as one statement, not thirty: each
        statement hands the GIL back and forth, so beside busy threads (a flow's start) the thirty took a quarter
        of a second, and a spinning thread made them take a second."""
        meta = {"schema_version": str(CATALOG_SCHEMA_VERSION), "root": self.root.base}
        return ";\n".join([
            "BEGIN TRANSACTION", _REGISTRY_DDL.strip().rstrip(";"),
            *(f"INSERT INTO physflow_meta VALUES ({sql_string(k)}, {sql_string(v)})" for k, v in meta.items()),
            _CURRENT_ARTIFACTS_DDL, *(self._view_sql(spec, [], []) for spec in TABLES.values()),
            joined_views_sql(), "COMMIT",
        ])

    def create(self) -> None:
        """Create the registry and its views now, when the catalog has none yet (`_new_registry_sql`, about 0.02 s
        alone): a new catalog's first registration otherwise creates them."""
        if self.db_path.exists():
            return
        with self._locked(exclusive=True):
            if not self.db_path.exists():  # (another writer may have made it meanwhile)
                self._make_registry()

    def register(self, manifest: Manifest, views: bool = True) -> None:
        """Add one complete artifact to the registry and refresh its table's view. Idempotent.

        `views=False` (a stage's shards, registered one by one, whose flow calls `refresh_views` when the stage
        ends) leaves the view to be rebuilt later and marks it stale: a view lists every artifact of its table,
        so rebuilding it per registration made registering a stage's shards cost the square of their number.
        Until then readers see the table through a temporary view that lists them.

        Group commit: registrations that threads of this process ask for while another one writes are written
        together by the next of them, in one writer session that refreshes each table's view once. A batch that
        fails is written again one registration at a time, so an error reaches only the thread whose it is."""
        group = _commit_group(self.root.base)
        pending = _Pending(manifest, views)
        with group.cond:
            group.queue.append(pending)
            while not pending.done and group.busy:
                group.cond.wait()
            if pending.done:
                if pending.error is not None:
                    raise pending.error
                return
            group.busy, batch, group.queue = True, group.queue, []
        try:
            self._register_batch(batch)
        finally:
            with group.cond:
                group.busy = False
                group.cond.notify_all()
        if pending.error is not None:
            raise pending.error

    def register_all(self, manifests: Sequence[Manifest], views: bool = True) -> None:
        """Register complete artifacts in one writer session (idempotent, like `register`, and like it with
        `views=False` leaving their tables' views stale for `refresh_views`)."""
        if manifests:
            self._write_registrations(list(manifests), refresh=None if views else set())

    def _register_batch(self, batch: list[_Pending]) -> None:
        """Write `batch` in one session; when that fails, each on its own. Marks every one done."""
        try:
            self._write_pending(batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for p in batch:
                    try:
                        self._write_pending([p])
                    except Exception as one:  # handed to the thread that registers it
                        p.error = one
        for p in batch:
            p.done = True

    def _write_pending(self, batch: list[_Pending]) -> None:
        self._write_registrations([p.manifest for p in batch], refresh={p.manifest.table for p in batch if p.views})

    def _write_registrations(self, manifests: list[Manifest], refresh: set[str] | None = None) -> None:
        """Insert `manifests` in one writer session, refreshing the views of the tables in `refresh` (None: all of
        theirs) and marking the others' stale."""
        with self.writer() as con:
            for manifest in manifests:
                self._insert(con, manifest)
            for table in dict.fromkeys(m.table for m in manifests):
                if refresh is None or table in refresh:
                    self._refresh_view(con, _spec(table))
                elif not con.execute("SELECT 1 FROM physflow_meta WHERE name = ?", [STALE_VIEW + table]).fetchall():
                    con.execute("INSERT INTO physflow_meta VALUES (?, '1')", [STALE_VIEW + table])

    def refresh_views(self) -> None:
        """Rebuild the views that registrations left stale (`register(..., views=False)`), in one writer session;
        nothing when none is."""
        with self._registry_connection() as con:
            if con is None or not _stale_tables(con):
                return
        with self.writer() as con:
            for table in _stale_tables(con):
                self._refresh_view(con, _spec(table))

    def rebuild(self) -> int:
        """Re-register every complete artifact found on disk (after the DuckDB file was lost)."""
        manifests = self.artifacts.manifests()
        with self.writer() as con:
            for manifest in manifests:
                self._insert(con, manifest)
            for spec in TABLES.values():
                self._refresh_view(con, spec)
        return len(manifests)

    # -- the seal (seal.py): trust without opening each artifact when nothing changed ----------------------------

    def trusted_keys(self) -> set[str] | None:
        """The key of every registered artifact when the catalog's seal holds (all of them intact, nothing
        changed since); None when it does not, and each artifact must be checked as it is used."""
        trusted = self.trusted_artifacts()
        return None if trusted is None else set(trusted)

    def registry_stamp(self) -> tuple[tuple[int, int, int] | None, ...]:
        """The `_file_stamp` (inode, size, mtime_ns) of the registry's files and of the seal, None for one absent: it
        changes whenever the registry or the seal does."""
        files = (self.db_path, self.db_path.with_name(f"{self.db_path.name}.wal"), self.root.local_path(sealing.SEAL_FILE))
        return tuple(_file_stamp(path) for path in files)

    def trusted_artifacts(self, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]] | None:
        """Registered artifacts by key (each one's registry row: stage, table, shard, rows, content_sha256, stats,
        and whether it is its stage's shard's current one, the one the views read), every one or those of `keys`,
        when the catalog's seal holds (`seal_holds`); None when it does not. No artifact file is opened."""
        return self.registered_rows(keys) if self.seal_holds() else None

    def seal_holds(self) -> bool:
        """Whether the catalog's seal holds: every registered artifact and blob intact, nothing changed since it
        was proven (one read of the registry and one listing of the catalog's files; seal.py)."""
        if not sealing.sealed(self.root):
            return False  # never sealed, or the seal dropped: nothing to read the registry for
        with self._registry_connection() as con:
            registry = _registry(con) if con is not None else None
            return con is not None and registry is not None and self._holds(registry) is not None

    def registered_rows(self, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """The registry rows of every artifact, or of those of `keys` that are registered (a join with them: the
        rows a run's jobs look up, whatever the registry's size), as `trusted_artifacts` returns them; no check."""
        wanted = None if keys is None else sorted(set(keys))
        if wanted == []:
            return {}
        with self._registry_connection() as con:
            if con is None:
                return {}
            join = "" if wanted is None else "JOIN (SELECT unnest(?::VARCHAR[]) AS key) w ON a.key = w.key "
            try:
                rows = con.execute(
                    "SELECT a.key, a.stage, a.table_name, a.shard, a.rows, a.content_sha256, a.stats, a.key IN "
                    f"(SELECT key FROM current_artifacts) FROM artifacts a {join}",
                    [] if wanted is None else [wanted]).fetchall()
            except duckdb.CatalogException:
                return {}  # a catalog not yet written
        return {
            key: {"stage": stage, "table": table, "shard": shard, "rows": int(n), "content_sha256": sha,
                  "stats": json.loads(stats) if stats else {}, "current": bool(current)}
            for key, stage, table, shard, n, sha, stats, current in rows
        }

    def artifact_count(self) -> int:
        """How many artifacts the registry holds (0 for a catalog not yet written)."""
        with self._registry_connection() as con:
            if con is None:
                return 0
            try:
                return int(con.execute("SELECT count(*) FROM artifacts").fetchone()[0])  # type: ignore[index]
            except duckdb.CatalogException:
                return 0

    def seal(self) -> bool:
        """Record the seal after a run when every registered artifact and blob is proven intact (files not
        verified since they changed are hashed now, once); False when one is not, or the registry is read-only.

        No lock is held while proving: the seal records the listing and registry that were proven, so a file
        or registration changed meanwhile only leaves a seal that never holds."""
        if not self._writable():
            return False
        registry = self._registry_now() or []
        if self._holds(registry) is not None:
            return True
        try:  # a file removed meanwhile, a full or read-only disk: runs go on checking each artifact
            proof = sealing.verified(self.root, registry, self.checker)
            if proof is None:
                sealing.drop_seal(self.root)
                return False
            sealing.write_seal(self.root, proof, registry)
        except (OSError, sqlite3.Error) as exc:
            log.warning("catalog %s not sealed: %s", self.root.uri, exc)
            return False
        return True

    def known_items(self, stage: str, recipe: str, items: Sequence[str]) -> set[str]:
        """Those of `items` that registered artifacts of `stage` under `recipe` hold rows of (one registry read)."""
        return {item for item, _, _, _ in self._item_spans(stage, recipe, items)}

    def item_rows(self, stage: str, recipe: str, items: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The rows earlier artifacts of `stage` under `recipe` hold for each of `items` (item key -> rows), from
        artifacts that are intact with their blobs; an item whose rows record an error is left out, so it is
        computed again. Empty for a catalog written before items were recorded, or an object-store catalog whose
        registry on this machine lacks them."""
        by_artifact: dict[str, list[tuple[str, int, int]]] = {}
        for item, artifact, first, n in self._item_spans(stage, recipe, items):
            by_artifact.setdefault(artifact, []).append((item, first, n))
        out: dict[str, list[dict[str, Any]]] = {}
        for artifact, spans in sorted(by_artifact.items()):
            if all(item in out for item, _, _ in spans):
                continue
            try:
                if self.artifacts.intact(stage, artifact, with_blobs=True) is None:
                    continue
                table = self.artifacts.read(stage, artifact)
            except (OSError, DamagedFileError):
                continue
            for item, first, n in spans:
                rows = table.slice(first, n).to_pylist()
                if item not in out and len(rows) == n and not any(r.get("error") for r in rows):
                    out[item] = rows
        return out

    def _item_spans(self, stage: str, recipe: str, items: Sequence[str]) -> list[tuple[str, str, int, int]]:
        """(item, artifact, first row, rows) of each registered artifact's rows for one of `items`."""
        wanted = sorted(set(items))
        if not wanted:
            return []
        with self._registry_connection() as con:
            if con is None:
                return []
            try:
                return con.execute(  # a hash join with the wanted keys: many of them against many items
                    "SELECT i.item, i.artifact, i.first_row, i.rows FROM artifact_items i "
                    "JOIN (SELECT unnest(?::VARCHAR[]) AS item) w ON i.item = w.item "
                    "JOIN artifacts a ON a.key = i.artifact WHERE i.stage = ? AND i.recipe = ?",
                    [wanted, stage, recipe]).fetchall()
            except duckdb.CatalogException:
                return []  # a catalog written before items were recorded

    def _registry_now(self) -> sealing.Registry | None:
        with self._registry_connection() as con:
            return _registry(con) if con is not None else None

    @contextlib.contextmanager
    def _registry_connection(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A plain read-only connection under the shared lock (no view checks: the registry only), or None for a
        catalog not yet written (an object-store catalog: its registry on this machine)."""
        if not self.db_path.exists():
            yield None
            return
        with self._locked(exclusive=False), _read_only(self.db_path) as con:
            yield con

    def _holds(self, registry: sealing.Registry) -> sealing.Proof | None:
        """The listing's proof when the seal holds for `registry`; the files it vouches for are then remembered as
        verified in this process, so the reads that follow cost one stat each."""
        proof = sealing.holds(self.root, registry)
        if proof is not None:
            vouch(proof.vouched)
        return proof

    # -- integrity and location ----------------------------------------------------------------------------------

    def registered(self) -> list[tuple[str, str]]:
        """(stage, key) of every artifact in the registry, as recorded (no file is checked)."""
        if not self.db_path.exists():
            return []
        with self._locked(exclusive=False), _read_only(self.db_path) as con:
            try:
                return [(r[0], r[1]) for r in con.execute("SELECT stage, key FROM artifacts ORDER BY key").fetchall()]
            except duckdb.CatalogException:
                return []

    def current_keys(self, *tables: str) -> set[str] | None:
        """The keys of the current artifacts of `tables` (`current_artifacts`)."""
        current = self.current_artifacts(*tables)
        return None if current is None else {key for _, _, key in current}

    def current_artifacts(self, *tables: str) -> list[tuple[str, str, str]] | None:
        """(table, stage, key) of the current artifacts of `tables` (those their views read: the newest of each
        stage's shard), oldest first, from the registry alone, no data file opened; None when this machine holds
        no registry of the catalog."""
        with self._registry_connection() as con:
            if con is None:
                return None
            try:
                return [(table, stage, key) for table, stage, key in con.execute(
                    "SELECT table_name, stage, key FROM current_artifacts WHERE list_contains(?::VARCHAR[], table_name) "
                    "ORDER BY created_at, key", [list(tables)]).fetchall()]
            except duckdb.CatalogException:
                return None  # a registry being made

    def superseded(self) -> list[SupersededRow]:
        """Every registered artifact a newer one of its stage's shard superseded (`superseded_in`), from the
        registry alone, no file checked; none when this machine holds no registry of the catalog."""
        with self._registry_connection() as con:
            return [] if con is None else superseded_in(con)

    def scan(self, table: str, columns: Sequence[str]) -> Iterator[pa.Table]:
        """The rows of `table`'s current artifacts, one artifact at a time, oldest first, with those of `columns`
        each has: where a row's table key comes again, the later one is the view's. A read whose memory is one
        artifact's, where a query of the view holds the whole table, and DuckDB about 60 KiB more per artifact
        file (at 2,000 videos, a query of the joined `clips` view took 52 MiB). An artifact gone or damaged since
        it was registered is skipped (a damaged one is quarantined: its stage computes it again)."""
        for _, stage, key in self.current_artifacts(table) or []:
            try:
                yield self.artifacts.read(stage, key, columns)
            except (FileNotFoundError, DamagedFileError):
                continue

    def _current_problems(self, con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
        """(stage, key, reason) of each current artifact (the files the views read) that lost its manifest
        or is damaged. A file unchanged since this process last checked it costs two stat calls."""
        try:  # the registry table, not the `current_artifacts` view: binding the view costs more than the check
            rows = con.execute("SELECT stage, shard, created_at, key FROM artifacts").fetchall()
        except duckdb.CatalogException:
            return []  # a catalog not yet written
        if self._holds(_registry(con) or []) is not None:
            return []  # sealed: every registered artifact intact, no file changed since
        newest: dict[tuple[str, str], tuple[Any, str]] = {}
        for stage, shard, created_at, key in rows:
            if (stage, shard) not in newest or created_at > newest[(stage, shard)][0]:
                newest[(stage, shard)] = (created_at, key)
        problems = []
        for (stage, _), (_, key) in newest.items():
            stamp = self._stamp(stage, key)
            if stamp is not None and _CHECKED.get((self.root.base, key)) == stamp:
                continue
            if not self.artifacts.exists(stage, key):
                problems.append((stage, key, "manifest missing"))
            elif (reason := self.artifacts.problem(stage, key)) is not None:
                problems.append((stage, key, reason))
            elif stamp is not None:
                _CHECKED[(self.root.base, key)] = stamp
        return problems

    def _settle(self, problems: list[tuple[str, str, str]], relocate: bool) -> None:
        """Drop what `_current_problems` found (quarantining damaged files), and rebuild a moved catalog's
        views in the database when it can be written."""
        for stage, key, reason in problems:
            if not self.artifacts.exists(stage, key):
                self.forget(stage, key, reason)
            elif self.artifacts.problem(stage, key) is not None:  # checked again: a writer may have replaced it
                self._quarantine(stage, key, reason)
        if relocate:
            with self.writer():
                pass  # the writer rebuilds the views for this root

    def _writable(self) -> bool:
        return os.access(self.db_path, os.W_OK) and os.access(self.db_path.parent, os.W_OK)

    def _quarantine(self, stage: str, key: str, reason: str) -> None:
        try:
            self.artifacts.quarantine(stage, key, reason)
        except OSError as exc:
            raise DamagedFileError(
                f"artifact {stage}/{key} of catalog {self.root.uri} is damaged ({reason}) and could not be moved "
                f"to quarantine ({exc}); run `physflow catalog verify --repair` on a writable copy"
            ) from exc

    def _stamp(self, stage: str, key: str) -> tuple[int, int, int] | None:
        try:
            data = os.stat(self.artifacts.data_path(stage, key))
            manifest = os.stat(self.artifacts.manifest_path(stage, key))
        except OSError:
            return None
        return data.st_size, data.st_mtime_ns, manifest.st_mtime_ns

    def forget(self, stage: str, key: str, reason: str) -> None:
        """Drop an artifact from the registry and its table's view (it was damaged or lost its manifest)."""
        log.warning("artifact %s/%s left the catalog: %s", stage, key, reason)
        _CHECKED.pop((self.root.base, key), None)
        with self.writer(relocate=False) as con:
            rows = con.execute("SELECT table_name FROM artifacts WHERE key = ?", [key]).fetchall()
            con.execute("DELETE FROM artifacts WHERE key = ?", [key])
            con.execute("DELETE FROM artifact_items WHERE artifact = ?", [key])
            for (table_name,) in rows:
                self._refresh_view(con, _spec(table_name))

    def artifact_file(self, path: str) -> str:
        """The location under this root of an artifact path from the registry: catalog-relative, or absolute
        as older catalogs wrote it (`<old root>/artifacts/<stage>/<key>.parquet`)."""
        if path.startswith("/"):
            path = "/".join([ARTIFACTS_DIR, *path.rsplit("/", 2)[-2:]])
        return self.root.path(path)

    def _moved(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the views were built for another root (the catalog was copied, moved or mounted elsewhere)."""
        try:
            rows = con.execute("SELECT value FROM physflow_meta WHERE name = 'root'").fetchall()
        except duckdb.CatalogException:
            return False
        return not rows or rows[0][0] != self.root.base

    def _relocate_views(self, con: duckdb.DuckDBPyConnection, temp: bool) -> None:
        """Rebuild every view for this root: in the database (and the registry's paths made relative, as
        older catalogs stored them absolute), or as temporary views of a read-only connection."""
        if not temp:
            con.execute(f"UPDATE artifacts SET path = '{ARTIFACTS_DIR}/' || stage || '/' || key || '.parquet'")
            con.execute("INSERT OR REPLACE INTO physflow_meta VALUES ('root', ?)", [self.root.base])
        for spec in TABLES.values():
            self._refresh_view(con, spec, temp=temp)
        create_joined_views(con, temp=temp)

    # -- internals -----------------------------------------------------------------------------------------------

    def _check_version(self, con: duckdb.DuckDBPyConnection) -> int | None:
        """The registry's catalog schema version (None: not written yet); one newer than this physflow's fails."""
        try:
            rows = con.execute("SELECT value FROM physflow_meta WHERE name = 'schema_version'").fetchall()
        except duckdb.CatalogException:
            return None  # a new, empty catalog
        version = int(rows[0][0]) if rows else None
        if version is not None and version > CATALOG_SCHEMA_VERSION:
            raise CatalogVersionError(
                f"catalog {self.db_path} was written with catalog schema version {version}, newer than this "
                f"physflow's {CATALOG_SCHEMA_VERSION}; upgrade physflow to read it"
            )
        return version

    @staticmethod
    def _insert(con: duckdb.DuckDBPyConnection, m: Manifest) -> None:
        """Register `m`. The registry's created_at is when the artifact became its stage's shard's current one (the
        newest, which the views read): its manifest's time when first registered, and the time of registering it
        again when another artifact of the same shard was registered after it. A run that uses an artifact again
        (Cached: a config changed and changed back) so makes it current once more; the views showed the other
        config's rows. A new key (most registrations) is a plain insert: an upsert, and the query of when another
        artifact of its shard was registered, cost a new one's registration about a fifth of its time."""
        known = con.execute("SELECT 1 FROM artifacts WHERE key = ?", [m.key]).fetchall()
        prior = con.execute(  # when registered, and whether another artifact of its shard was registered since
            "SELECT a.created_at, EXISTS (SELECT 1 FROM artifacts o WHERE o.stage = a.stage AND o.shard = a.shard "
            "AND o.key <> a.key AND o.created_at >= a.created_at) FROM artifacts a WHERE a.key = ?", [m.key]
        ).fetchone() if known else None
        registered_at = m.created_at if prior is None else datetime.now(UTC) if prior[1] else prior[0]
        con.execute(
            f"INSERT {'OR REPLACE ' if known else ''}INTO artifacts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                m.key, m.stage, m.version, m.table, m.table_version, m.shard, json.dumps(m.config),
                json.dumps(m.inputs), json.dumps(m.weights), m.rows, m.bytes, m.content_sha256,
                ArtifactStore.relative_path(m.stage, m.key), json.dumps(m.stats), m.flow_run_id, registered_at,
            ],
        )
        if known:
            con.execute("DELETE FROM artifact_items WHERE artifact = ?", [m.key])
        if m.recipe and m.items:
            counts = [n for _, n in m.items]
            con.execute(  # one statement for all the items (executemany costs a round trip per row)
                "INSERT INTO artifact_items SELECT ?, ?, ?, unnest(?::VARCHAR[]), unnest(?::BIGINT[]), "
                "unnest(?::BIGINT[])",
                [m.key, m.stage, m.recipe, [item for item, _ in m.items],
                 list(itertools.accumulate(counts, initial=0))[:-1], counts])

    def _ensure_views(self, con: duckdb.DuckDBPyConnection) -> None:
        existing = {r[0] for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND database_name = current_database()"
        ).fetchall()}
        if "current_artifacts" not in existing:
            con.execute(_CURRENT_ARTIFACTS_DDL)
        missing = [spec for spec in TABLES.values() if view_name(spec.name) not in existing]
        new = len(missing) == len(TABLES) and not con.execute("SELECT count(*) FROM artifacts").fetchone()[0]
        for spec in missing:
            self._refresh_view(con, spec, new=new)
        if new:
            # A new catalog: its views were just built for this root, so it need not be relocated (built again).
            con.execute("INSERT OR REPLACE INTO physflow_meta VALUES ('root', ?)", [self.root.base])
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

    def _refresh_view(self, con: duckdb.DuckDBPyConnection, spec: TableSpec, temp: bool = False,
                      new: bool = False) -> None:
        """View = rows of the newest artifact per (stage, shard), one row per table key, newest first; blob
        references in `*uri` columns resolved to locations under this root. `new`: the registry was just made (no
        artifact to list, no stale mark to clear: a new catalog's 20 views took a third longer asking).

        Files of the table's current version all hold its schema as it is (`ArtifactStore.write` casts to it), so
        a view over only those reads its columns by position and binds on the first file's schema. Columns are
        unified by name, which opens every file's footer each time a query binds the view, only when an older
        version's artifact is current: over 20,000 files that took 0.65 s and 2.6 times the memory, per query."""
        rows = [] if new else con.execute(
            "SELECT path, table_version FROM current_artifacts WHERE table_name = ? ORDER BY created_at", [spec.name]
        ).fetchall()
        files = [self.artifact_file(path) for path, _ in rows]
        present = set().union(*(self.root.files_in(folder) for folder in {f.rsplit("/", 1)[0] for f in files}))
        files = [self.root.url(f) for f in files if f in present]
        con.execute(self._view_sql(spec, files, [version for _, version in rows], temp))
        if not temp and not new:
            con.execute("DELETE FROM physflow_meta WHERE name = ?", [STALE_VIEW + spec.name])

    def _view_sql(self, spec: TableSpec, files: list[str], versions: list[int], temp: bool = False) -> str:
        """The statement that makes `spec`'s view over `files` (URLs of its current artifacts' data, oldest first,
        each of the table version in `versions`)."""
        create = f'CREATE OR REPLACE {"TEMP " if temp else ""}VIEW "{view_name(spec.name)}" AS'
        no_rows = None if files else _no_rows(spec)
        if no_rows is not None:  # no file to read (a new catalog's tables): its columns, typed as its files read
            return f"{create} SELECT {no_rows} WHERE false"
        listing = ", ".join(sql_string(f) for f in [self._empty_file(spec), *files])
        by_name = "false" if all(version == spec.version for version in versions) else "true"
        cols = ", ".join(self._column_sql(spec, c) for c in spec.schema.names)
        key = ", ".join(f't."{c}"' for c in spec.key)
        return f"""{create}
                    SELECT {cols} FROM read_parquet([{listing}], union_by_name = {by_name}, filename = '_file') t
                    LEFT JOIN current_artifacts a ON a.key = parse_filename(t._file, true)
                    QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY a.created_at DESC NULLS LAST) = 1"""

    def _column_sql(self, spec: TableSpec, name: str) -> str:
        column = f't."{name}"'
        if name.endswith("uri") and pa.types.is_string(spec.schema.field(name).type):
            query = f"?{self.root.query}" if self.root.query else ""  # blob URIs say how to reach the store
            return f'{resolve_sql(column, self.root.url(self.root.path("")), query)} AS "{name}"'
        return column


_NO_ROWS: dict[tuple[str, int], str | None] = {}
_SQL_TYPES = {pa.string(): "VARCHAR", pa.large_string(): "VARCHAR", pa.bool_(): "BOOLEAN", pa.int8(): "TINYINT",
              pa.int16(): "SMALLINT", pa.int32(): "INTEGER", pa.int64(): "BIGINT", pa.float32(): "FLOAT",
              pa.float64(): "DOUBLE", pa.binary(): "BLOB", pa.date32(): "DATE"}


def _sql_type(t: pa.DataType) -> str | None:
    """The type DuckDB reads an Arrow type's Parquet column as (None: not one this knows)."""
    if t in _SQL_TYPES:
        return _SQL_TYPES[t]
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        inner = _sql_type(t.value_type)  # Parquet has no fixed-size list: FLOAT[3] is stored, and read, as FLOAT[]
        return None if inner is None else f"{inner}[]"
    if pa.types.is_timestamp(t) and t.unit == "us":
        return "TIMESTAMP WITH TIME ZONE" if t.tz else "TIMESTAMP"
    return None


def _no_rows(spec: TableSpec) -> str | None:
    """The select list of a view of `spec` that reads no file, each column a typed NULL of the type DuckDB gives it
    reading the table's Parquet files (None: a column of a type `_sql_type` does not know). A view over the table's
    empty file cost that file's writing and a read of its footer, per table of a new catalog: a fifth of a second
    on a cold run's path, for twenty tables."""
    key = (spec.name, spec.version)
    if key not in _NO_ROWS:
        types = [_sql_type(f.type) for f in spec.schema]
        _NO_ROWS[key] = None if None in types else ", ".join(
            f'CAST(NULL AS {t}) AS "{f.name}"' for f, t in zip(spec.schema, types, strict=True))
    return _NO_ROWS[key]


class _Attached:
    """An in-memory DuckDB that catalog files are attached to (made on first use, with `config`, and again in a
    forked child), the process it was started in, and the files attached (readers': path -> alias, users; writer
    sessions': alias -> alias, 1), `lock` held while these change."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self.pid = 0
        self.db: duckdb.DuckDBPyConnection | None = None
        self.files: dict[str, tuple[str, int]] = {}
        self.lock = threading.Lock()

    def ready(self) -> duckdb.DuckDBPyConnection:
        """The instance, made when this process has none yet (call with `lock` held)."""
        if self.db is None or self.pid != os.getpid():
            if self.db is not None:
                _FORKED.append(self.db)
            self.db, self.pid, self.files = duckdb.connect(":memory:", config=self.config), os.getpid(), {}
        return self.db


class _ThreadAttached(_Attached, threading.local):
    """Per thread, for object-store catalogs: an instance reads one file system per scheme (`_reads_root`)."""


_ATTACHED = _Attached()  # the process's, for local catalogs: one instance, however many threads read
_THREAD_ATTACHED = _ThreadAttached()
_ALIASES = itertools.count()
_FORKED: list[duckdb.DuckDBPyConnection] = []  # instances a fork inherited: never closed (their threads are gone)


_LEFT_BY_ME: dict[tuple[str, str], tuple[Any, ...]] = {}
"""By (registry file, catalog root): the file's `_registry_stamp` as this process's last writer session for that
root left it, its tables, schema version, views and root made sure of. A writer of another process changes the
stamp: it rewrites the file when it detaches (DuckDB's checkpoint), and its session takes longer than the clock
step of a file's modification time; a registry made anew is another file."""


def _registry_stamp(path: Path) -> tuple[tuple[int, int, int] | None, ...]:
    """The `_file_stamp` of a registry file and of its write-ahead log."""
    return _file_stamp(path), _file_stamp(path.with_name(f"{path.name}.wal"))


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime_ns) of a file (None: absent): a file replaced by another is another inode."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


@contextlib.contextmanager
def _read_only(path: Path, config: dict[str, Any] | None = None,
               root: Root | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the DuckDB file at `path`, closed on exit; the caller holds the shared lock.

    Without `config` the file is attached (READ_ONLY) to the readers' in-memory DuckDB (`_instance`), and detached
    when its last user leaves: starting a DuckDB instance takes 10-30 ms, attaching a file a few, and a warm run
    reads the registry once per stage. The connection is a fresh cursor of that instance, so what a user creates
    on it (temporary views, registered tables) ends with it. With `config` (settings of the instance itself) the
    file is opened on an instance of its own. With an object-store `root`, the instance reads its files."""
    if config:
        with _own_instance(path, root, read_only=True, config=config) as con:
            yield con
        return
    state, key = _instance(root), str(path)
    with state.lock:
        assert state.db is not None
        if key in state.files:
            alias, users = state.files[key]
        else:
            alias, users = f"catalog_{next(_ALIASES)}", 0
            state.db.execute(f"ATTACH {sql_string(key)} AS {alias} (READ_ONLY)")
        state.files[key] = (alias, users + 1)
        con = state.db.cursor()
    try:
        con.execute(f"USE {alias}")
        yield con
    finally:
        con.close()
        with state.lock:
            alias, users = state.files[key]
            if users > 1:
                state.files[key] = (alias, users - 1)
            else:
                del state.files[key]
                state.db.execute(f"DETACH {alias}")


@contextlib.contextmanager
def _own_instance(path: Path, root: Root | None, **options: Any) -> Iterator[duckdb.DuckDBPyConnection]:
    """The DuckDB file at `path` opened on an instance of its own (`duckdb.connect` `options`), able to read
    `root`, closed on exit."""
    con = duckdb.connect(str(path), **options)
    try:
        _reads_root(con, root)
        yield con
    finally:
        con.close()


def _instance(root: Root | None) -> _Attached:
    """The readers' in-memory DuckDB (made on first use, and again in a forked child), able to read `root`: the
    process's for a local catalog (an instance a thread, as before, kept 4-5 MiB and a thread of its own each for
    the life of the process), the thread's for an object store."""
    remote = root is not None and root.duckdb_filesystem is not None
    state = _THREAD_ATTACHED if remote else _ATTACHED
    with state.lock:
        db = state.ready()
        if remote:
            _reads_root(db, root)
    return state


_WRITER = _Attached({"threads": 1, "allocator_flush_threshold": "0MB",
                     "allocator_bulk_deallocation_flush_threshold": "0MB"})
"""This process's instance for writer sessions. Their statements are small: one thread runs them (40 sessions
refreshing two views over a 1,000-video catalog: 1.7 CPU-s against 2.4 with the machine's thread count), and the
allocator gives back what each statement used (else the instance, which lives as long as the process, kept 20 MiB
more)."""


def _after_fork() -> None:
    """In a forked child: the instances' locks free (a thread of the parent may have held one); the instances
    themselves are made again on use (`_Attached.ready`)."""
    for state in (_ATTACHED, _THREAD_ATTACHED, _WRITER):
        state.lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


@contextlib.contextmanager
def _attached_writable(path: Path, root: Root) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to the DuckDB file at `path` (made when missing), the caller holding the exclusive
    lock: the file attached to this process's writer DuckDB under an alias of its own and detached on exit, which
    checkpoints it and releases DuckDB's lock on it. A small write costs about 3 ms of CPU this way, 15 on an
    instance of its own (a cold curation of the 14 shared videos makes 17 sessions); one instance for all
    threads (`_WRITER`: an instance per thread kept 50 MiB more over a 1,000-video run). Closing the
    connection first rolls back a transaction it left open. An object-store root's session has an instance of
    its own (an instance serves one file system per scheme)."""
    if root.duckdb_filesystem is not None:
        with _own_instance(path, root) as con:
            yield con
        return
    with _WRITER.lock:
        alias = f"catalog_{next(_ALIASES)}"
        setup = _WRITER.ready().cursor()
        _WRITER.files[alias] = (alias, 1)  # in use: `release_instances` leaves the instance open
    try:
        setup.execute(f"ATTACH {sql_string(str(path))} AS {alias}")
        con = setup.cursor()
        try:
            con.execute(f"USE {alias}")
            yield con
        finally:
            con.close()
            setup.execute(f"DETACH {alias}")
    finally:
        setup.close()
        with _WRITER.lock:
            _WRITER.files.pop(alias, None)


def release_instances() -> None:
    """Close this process's writer and readers' DuckDB instances (local catalogs) that no session uses now; each is
    made again on its next use, in 10-30 ms. A batched flow calls this between batches: an instance that lives as
    long as the process kept what its statements left behind (the two: about 10 MiB after a batch of curation, 1 MiB
    more with each batch of a run of 8,000 videos) and 8-9 threads of its own."""
    for state in (_WRITER, _ATTACHED):
        with state.lock:
            if state.db is not None and not state.files and state.pid == os.getpid():
                state.db.close()
                state.db = None


def _reads_root(con: duckdb.DuckDBPyConnection, root: Root | None) -> None:
    """Let DuckDB instance `con` read an object-store root's files (the views list them by URL); nothing for a
    local root. One file system per scheme and instance: the last root registered serves its scheme."""
    filesystem = root.duckdb_filesystem if root is not None else None
    if filesystem is None:
        return
    if con.filesystem_is_registered(filesystem.protocol):
        con.unregister_filesystem(filesystem.protocol)
    con.register_filesystem(filesystem)


SupersededRow = tuple[str, str, int, datetime]
"""(key, stage, bytes, when the first newer artifact of its stage's shard was registered) of an artifact."""

_SUPERSEDED = """
WITH times AS (SELECT DISTINCT stage, shard, created_at FROM artifacts),
     later AS (SELECT stage, shard, created_at,
                      lead(created_at) OVER (PARTITION BY stage, shard ORDER BY created_at) AS superseded_at
               FROM times)
SELECT a.key, a.stage, coalesce(a.bytes, 0), l.superseded_at
FROM artifacts a JOIN later l ON a.stage = l.stage AND a.shard IS NOT DISTINCT FROM l.shard
                             AND a.created_at = l.created_at
WHERE l.superseded_at IS NOT NULL
ORDER BY a.stage, a.key
"""


def superseded_in(con: duckdb.DuckDBPyConnection) -> list[SupersededRow]:
    """The registry's artifacts with a newer one in their stage's shard (so not what the views read: they read the
    newest), and when the first newer one was registered. Artifacts registered at the same instant supersede none
    of each other."""
    try:
        rows = con.execute(_SUPERSEDED).fetchall()
    except duckdb.CatalogException:
        return []  # a catalog not yet written
    return [(key, stage, int(size), at) for key, stage, size, at in rows]


def _stale_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables whose views registrations left stale (`STALE_VIEW`), in name order."""
    try:
        rows = con.execute("SELECT name FROM physflow_meta WHERE starts_with(name, ?) ORDER BY name",
                           [STALE_VIEW]).fetchall()
    except duckdb.CatalogException:
        return []  # a catalog not yet written
    return [name.removeprefix(STALE_VIEW) for (name,) in rows]


def _registry(con: duckdb.DuckDBPyConnection) -> sealing.Registry | None:
    try:
        rows = con.execute("SELECT key, stage, content_sha256, bytes FROM artifacts ORDER BY key").fetchall()
    except duckdb.CatalogException:
        return None  # a catalog not yet written
    return [(key, stage, sha, int(size)) for key, stage, sha, size in rows]


def _spec(name: str) -> TableSpec:
    from physflow.data_catalog.schemas import table_spec

    return table_spec(name)
