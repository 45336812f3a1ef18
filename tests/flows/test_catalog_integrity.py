"""Damage of every kind is found by `catalog verify`, kept out of every read, and healed by the next run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from physflow.data_catalog import Catalog
from physflow.data_catalog.integrity import DamagedFileError, Quarantine
from physflow.data_catalog.verify import verify_catalog
from physflow.flows.ingest import IngestParams, ingest_flow

pytestmark = pytest.mark.usefixtures("prefect_api")


def _ingest(root: Path, videos: list[Path]) -> None:
    ingest_flow(IngestParams(inputs=[str(v) for v in videos], catalog=str(root), shard_size=1,
                             ingest={"decode_check": "first"}))


def _rows(root: Path) -> list[dict]:
    return Catalog(root).query("SELECT * EXCLUDE (uri) FROM videos ORDER BY video_id").to_pylist()


@pytest.fixture(scope="module")
def undamaged(demo_videos, tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("undamaged") / "catalog"
    _ingest(root, demo_videos)
    return root, _rows(root)


def _parquet(root: Path) -> Path:
    return sorted((root / "artifacts" / "ingest").glob("*.parquet"))[0]


def _flip(root: Path) -> str:
    path = _parquet(root)
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 8):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return "damaged"


def _truncate(root: Path) -> str:
    path = _parquet(root)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return "damaged"


def _delete(root: Path) -> str:
    _parquet(root).unlink()
    return "missing"


def _drop_manifest(root: Path) -> str:
    Path(str(_parquet(root)).removesuffix(".parquet") + ".manifest.json").unlink()
    return "missing"


def _orphan(root: Path) -> str:
    shutil.copy(_parquet(root), root / "artifacts" / "ingest" / ("0" * 64 + ".parquet"))
    (root / "blobs" / "ab").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "ab" / ("ab" * 32 + ".npy")).write_bytes(b"nobody names me")
    return "orphan"


def _stale_temp(root: Path) -> str:
    (root / "artifacts" / "ingest" / (_parquet(root).name + ".tmp-0123456789ab")).write_bytes(b"half a write")
    return "stale_temp"


DAMAGE = {"flipped bytes": _flip, "truncated file": _truncate, "deleted file": _delete,
          "missing manifest": _drop_manifest, "orphan file": _orphan, "stale temp file": _stale_temp}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damage_is_found_kept_out_and_healed(kind, undamaged, demo_videos, tmp_path):
    original, rows = undamaged
    root = tmp_path / "catalog"
    shutil.copytree(original, root)  # also a moved catalog: its views were built for `original`
    expected = DAMAGE[kind](root)

    report = verify_catalog(Catalog(root), grace_s=0)
    assert [f.kind for f in report.findings] == [expected] * len(report.findings) and report.findings, report
    if expected in ("damaged", "missing"):
        # Every read checks the files it reads: the damaged shard leaves the view, nothing fails to decode.
        got = _rows(root)
        assert len(got) == len(rows) - 1 and all(r in rows for r in got)

    _ingest(root, demo_videos)  # the stage recomputes what was lost
    assert _rows(root) == rows
    if expected in ("orphan", "stale_temp"):
        assert verify_catalog(Catalog(root), grace_s=0).findings  # a run leaves files it does not own alone
        assert verify_catalog(Catalog(root), repair=True, grace_s=0).repaired
    assert verify_catalog(Catalog(root), grace_s=0).clean
    assert _rows(root) == rows
    if kind not in ("missing manifest", "stale temp file"):  # those leave nothing to keep: the file is rewritten
        assert Quarantine(Catalog(root).root).entries(), "the damaged or orphaned file was kept in quarantine"


@pytest.mark.timeout(240)
def test_verify_repair_then_run_heals(undamaged, demo_videos, tmp_path):
    original, rows = undamaged
    root = tmp_path / "catalog"
    shutil.copytree(original, root)
    _flip(root)
    os.utime(_parquet(root), ns=(0, 0))  # bit rot: same size, an old mtime, only a full read can tell
    repaired = verify_catalog(Catalog(root), repair=True, grace_s=0)
    assert [f.kind for f in repaired.findings] == ["damaged"]
    assert verify_catalog(Catalog(root), grace_s=0).clean
    _ingest(root, demo_videos)
    assert _rows(root) == rows


def test_reading_a_damaged_artifact_raises_after_quarantine(undamaged, tmp_path):
    original, _ = undamaged
    root = tmp_path / "catalog"
    shutil.copytree(original, root)
    path = _parquet(root)
    key = path.name.removesuffix(".parquet")
    _truncate(root)
    cat = Catalog(root)
    with pytest.raises(DamagedFileError, match="moved to quarantine"):
        cat.artifacts.read("ingest", key)
    assert not path.exists()
    assert key not in cat.query("SELECT key FROM artifacts").column("key").to_pylist()
    entry = Quarantine(cat.root).entries()[0]
    assert entry["path"].startswith("artifacts/ingest/") and "size" in entry["reason"]


def test_scheduled_verify_deployment_fails_on_damage_and_repairs(undamaged, tmp_path):
    import yaml

    from physflow.flows.catalog_verify import VerifyParams, verify_flow

    deployment = next(d for d in yaml.safe_load((Path(__file__).parents[2] / "prefect.yaml").read_text())
                      ["deployments"] if d["name"] == "verify-catalog")
    assert deployment["entrypoint"] == "physflow.flows.catalog_verify:verify_flow"
    assert VerifyParams(**deployment["parameters"]["params"]).repair
    original, _ = undamaged
    root = tmp_path / "catalog"
    shutil.copytree(original, root)
    _truncate(root)
    assert verify_flow(VerifyParams(catalog=str(root), grace_s=0), return_state=True).is_failed()
    repaired = verify_flow(VerifyParams(catalog=str(root), repair=True, grace_s=0))
    assert repaired["damaged"] == 1 and repaired["repaired"]
    assert verify_flow(VerifyParams(catalog=str(root), grace_s=0))["damaged"] == 0
