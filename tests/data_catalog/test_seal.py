"""The catalog's seal: trusted while no file and no registration changed, refused while anything is damaged."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from physflow.data_catalog import ArtifactStore, Catalog
from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.schemas import TABLES
from physflow.data_catalog.seal import SEAL_FILE


def _write(cat: Catalog, key: str, clip: str, payload: bytes) -> None:
    uri, sha = BlobStore(cat.root).put_bytes(payload, "mp4")
    table = pa.Table.from_pylist([{"clip_id": clip, "video_id": "v", "clip_uri": BlobStore(cat.root).ref(uri),
                                   "clip_sha256": sha}], schema=TABLES["clip_files"].schema)
    cat.register(cat.artifacts.write(stage="clip_export", version=1, key=key, table_name="clip_files",
                                     table=table, shard=clip, config={}, inputs=[clip]))


@pytest.fixture()
def sealed(tmp_path) -> Path:
    cat = Catalog(tmp_path / "catalog")
    _write(cat, "k1", "c1", b"first clip")
    _write(cat, "k2", "c2", b"second clip")
    assert cat.trusted_keys() is None, "nothing is trusted before a seal"
    assert cat.seal() and (tmp_path / "catalog" / SEAL_FILE).is_file()
    return tmp_path / "catalog"


def _blob(root: Path) -> Path:
    return next((root / "blobs").rglob("*.mp4"))


def _data(root: Path) -> Path:
    return root / ArtifactStore.relative_path("clip_export", "k1")


CHANGES = {
    "touched data": lambda root: os.utime(_data(root), ns=(1, 1)),
    "blob rewritten": lambda root: _blob(root).write_bytes(b"other bytes"),
    "manifest deleted": lambda root: Path(str(_data(root)).replace(".parquet", ".manifest.json")).unlink(),
    "file added": lambda root: (root / "blobs" / "zz").mkdir() or (root / "blobs" / "zz" / "zz.npy").write_bytes(b""),
    "artifact registered": lambda root: _write(Catalog(root), "k3", "c3", b"third clip"),
}


def test_seal_vouches_for_every_registered_artifact(sealed):
    cat = Catalog(sealed)
    assert cat.trusted_keys() == {"k1", "k2"}
    assert cat.query("SELECT count(*) AS n FROM clip_files").to_pylist() == [{"n": 2}]
    assert cat.seal(), "sealing again when nothing changed is a no-op that holds"


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_change_breaks_the_seal(sealed, tmp_path, change):
    root = tmp_path / "copy"
    shutil.copytree(sealed, root)  # a copy keeps names, sizes and mtimes: the seal travels with it
    assert Catalog(root).trusted_keys() == {"k1", "k2"}
    CHANGES[change](root)
    assert Catalog(root).trusted_keys() is None


DAMAGE = {
    "blob rewritten": lambda root: _blob(root).write_bytes(b"rot"),  # no longer what its name promises
    "blob deleted": lambda root: _blob(root).unlink(),  # a registered artifact references it
    "data rewritten": lambda root: _data(root).write_bytes(b"not parquet"),
    "data deleted": lambda root: _data(root).unlink(),
    "manifest deleted": lambda root: Path(str(_data(root)).replace(".parquet", ".manifest.json")).unlink(),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damage_is_never_sealed(sealed, damage):
    DAMAGE[damage](sealed)
    cat = Catalog(sealed)
    assert not cat.seal() and not (sealed / SEAL_FILE).exists()
    assert cat.trusted_keys() is None


def test_unverified_files_are_hashed_once_then_sealed(sealed):
    (sealed / "fingerprints.sqlite").unlink()  # nothing remembered: the seal reads each file once
    for extra in ("fingerprints.sqlite-wal", "fingerprints.sqlite-shm"):
        (sealed / extra).unlink(missing_ok=True)
    os.utime(_data(sealed))  # and a changed mtime breaks the old seal
    cat = Catalog(sealed)
    assert cat.trusted_keys() is None
    assert cat.seal() and cat.trusted_keys() == {"k1", "k2"}


@pytest.mark.parametrize("whole_registry", [0, 2_000])  # rows looked up stage by stage, or read with the check
def test_a_run_trusts_what_it_registered_and_not_another_writers_registration(sealed, monkeypatch, whole_registry):
    """Between seals (`runtime.seal_checkpoints`) a flow run trusts the registry it found sealed plus the artifacts
    its own jobs registered, without checking the seal again; a registration it did not make (the count of
    artifacts tells) ends that trust until the next seal."""
    from physflow.flows import runtime

    monkeypatch.setattr(runtime, "WHOLE_REGISTRY", whole_registry)
    monkeypatch.setattr(runtime, "_flow_run_id", lambda: "run-1")
    monkeypatch.setattr(runtime, "_TRUSTED", {})
    checks: list[int] = []
    seal_holds = Catalog.seal_holds
    monkeypatch.setattr(Catalog, "seal_holds", lambda self: checks.append(1) or seal_holds(self))
    cat = Catalog(sealed)
    assert set(runtime._trusted_in_run(cat, ["k1", "k2", "k3"])) == {"k1", "k2"} and checks == [1]

    _write(cat, "k3", "c3", b"third clip")  # this run's job
    runtime._extend_trust(cat, {"k3"})
    assert set(runtime._trusted_in_run(cat, ["k1", "k3"])) == {"k1", "k3"} and checks == [1]
    assert runtime._trusted_in_run(cat, ["k1"])["k1"]["stage"] == "clip_export"

    _write(Catalog(sealed), "k4", "c4", b"fourth clip")  # another writer's, meanwhile
    _write(cat, "k5", "c5", b"fifth clip")  # this run's
    runtime._extend_trust(cat, {"k5"})
    assert runtime._trusted_in_run(cat, ["k1", "k5"]) is None and checks == [1], "not trusted, nor checked again"

    runtime._seal(cat)  # a checkpoint proves the whole catalog: trusted again, the seal not checked again
    assert set(runtime._trusted_in_run(cat, ["k4", "k5"])) == {"k4", "k5"} and checks == [1]
    monkeypatch.setattr(runtime, "_flow_run_id", lambda: "run-2")
    assert set(runtime._trusted_in_run(cat, ["k4"])) == {"k4"} and checks == [1, 1], "a new run checks the seal"


def test_the_seal_digests_the_listing_in_path_order_whatever_the_folder_names(tmp_path):
    """The catalog is listed a folder at a time; its digest is still that of every file's line in path order (the
    seals catalogs already hold go on holding), also where one folder's name starts another's ("x/" sorts after
    "x-y/")."""
    root = tmp_path / "catalog"
    cat = Catalog(root)
    _write(cat, "k1", "c1", b"a clip")
    for stage in ("x", "x-y", "x_y", "x0"):
        table = pa.Table.from_pylist([{"video_id": stage}], schema=TABLES["videos"].schema)
        cat.register(cat.artifacts.write(stage=stage, version=1, key=f"k-{stage}", table_name="videos", table=table,
                                         shard=stage, config={}, inputs=[stage]))
    assert cat.seal()
    files = sorted((p.relative_to(root).as_posix(), p.stat()) for top in ("artifacts", "blobs")
                   for p in (root / top).glob("*/*") if p.is_file())
    text = "\n".join(f"{rel}\t{st.st_size}\t{st.st_mtime_ns}" for rel, st in files)
    record = json.loads((root / SEAL_FILE).read_text())
    assert record["listing"] == hashlib.sha256(text.encode()).hexdigest() and record["files"] == len(files)
    stages = [rel.split("/")[1] for rel, _ in files if rel.startswith("artifacts/x")]
    assert list(dict.fromkeys(stages)) == ["x-y", "x", "x0", "x_y"], "folder names alone would sort x before x-y"


def test_a_checkpoint_writes_the_catalog_while_what_was_set_aside_runs(tmp_path, monkeypatch):
    """A checkpoint rebuilds the stale views and seals while what the run set aside (its reports' API calls)
    runs, and waits for that after: a report still running does not hold the catalog's writing."""
    import threading
    import time

    from physflow.flows import runtime

    monkeypatch.setattr(runtime, "_flow_run_id", lambda: "run-1")
    cat = Catalog(tmp_path / "catalog")
    _write(cat, "k1", "c1", b"first clip")
    sealed = threading.Event()
    seal = runtime._seal
    monkeypatch.setattr(runtime, "_seal", lambda catalog: (seal(catalog), sealed.set()))
    seen: list[bool] = []
    block = runtime.SealCheckpoints(changed={str(cat.root.uri): cat}, stale={str(cat.root.uri): cat})
    block.aside(lambda: seen.append(sealed.wait(timeout=10)))
    start = time.perf_counter()
    block.checkpoint(force=True)
    assert seen == [True], "the report had to wait for the checkpoint's end"
    assert time.perf_counter() - start < 5
    assert cat.trusted_keys() == {"k1"}
