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
