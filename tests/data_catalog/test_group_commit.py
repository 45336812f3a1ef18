"""Registrations from many threads of one process: written together, each one landing or failing on its own."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pytest

from physflow.data_catalog import Catalog
from physflow.data_catalog.schemas import TABLES


def _manifest(cat: Catalog, key: str, table_name: str = "videos"):
    table = pa.Table.from_pylist([{"video_id": key, "uri": f"/v/{key}.mp4"}], schema=TABLES["videos"].schema)
    manifest = cat.artifacts.write(stage="ingest", version=1, key=key, table_name="videos", table=table,
                                   shard=key, config={}, inputs=[key])
    return manifest.model_copy(update={"table": table_name})


def test_concurrent_registrations_all_land_and_share_writer_sessions(tmp_path, monkeypatch):
    cat = Catalog(tmp_path / "catalog")
    manifests = [_manifest(cat, f"k{i:02d}") for i in range(24)]
    sessions, slow = [], threading.Event()
    write = Catalog._write_registrations

    def counted(self, batch, refresh=None):
        sessions.append(len(batch))
        slow.wait(0.05)  # a writer session takes a while, as on a busy disk: the others queue meanwhile
        return write(self, batch, refresh)

    monkeypatch.setattr(Catalog, "_write_registrations", counted)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda m: Catalog(tmp_path / "catalog").register(m), manifests))
    assert sum(sessions) == len(manifests) and len(sessions) < len(manifests)
    assert sorted(r["video_id"] for r in cat.query("SELECT video_id FROM videos").to_pylist()) == \
        sorted(m.key for m in manifests)


def test_a_registration_that_fails_fails_only_its_own_thread(tmp_path, monkeypatch):
    cat = Catalog(tmp_path / "catalog")
    good = [_manifest(cat, f"g{i}") for i in range(6)]
    bad = _manifest(cat, "bad", table_name="no_such_table")
    release, write = threading.Event(), Catalog._write_registrations

    def held(self, batch, refresh=None):
        release.wait(5)  # the first session waits until everyone queued, so the bad one shares a batch
        return write(self, batch, refresh)

    monkeypatch.setattr(Catalog, "_write_registrations", held)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(Catalog(tmp_path / "catalog").register, m) for m in [*good, bad]]
        threading.Timer(0.3, release.set).start()
        with pytest.raises(KeyError):
            futures[-1].result(timeout=30)
        for f in futures[:-1]:
            f.result(timeout=30)
    assert sorted(r["video_id"] for r in cat.query("SELECT video_id FROM videos").to_pylist()) == \
        sorted(m.key for m in good)


def test_a_thread_waiting_for_another_of_its_process_is_woken_when_the_lock_is_let_go(tmp_path, monkeypatch):
    """Threads of one process wait for each other on the process's own lock, not by trying the lock file every
    50 ms (a new catalog's first registration waited up to that long for its registry made on another thread);
    the lock file still keeps other processes out. One held past the timeout fails naming the thread."""
    import time

    from physflow.data_catalog import catalog as catalog_module
    from physflow.data_catalog.catalog import CatalogLockTimeoutError

    holder = Catalog(tmp_path / "cat")
    holder.create()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder._locked(exclusive=True):
            held.set()
            release.wait(10)

    polled: list[float] = []
    real_sleep = time.sleep
    monkeypatch.setattr(catalog_module.time, "sleep", lambda s: (polled.append(s), real_sleep(s)))
    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(CatalogLockTimeoutError, match="another thread of this process"), \
                Catalog(tmp_path / "cat", lock_timeout_s=0.1)._locked(exclusive=False):
            pass
        threading.Timer(0.2, release.set).start()
        assert Catalog(tmp_path / "cat").query("SELECT 1 AS one").to_pylist() == [{"one": 1}]
    finally:
        release.set()
        thread.join(10)
    assert 0.05 not in polled  # woken, not polling the lock file
