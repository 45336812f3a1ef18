"""`catalog prune` removes what newer artifacts superseded long enough ago, and the blobs only those held; what the
views read, what an artifact left on disk references, and what was superseded recently stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from physflow.data_catalog import Catalog
from physflow.data_catalog.artifacts import Manifest
from physflow.data_catalog.prune import prune_catalog
from physflow.data_catalog.schemas import CLIP_FILES, TABLES
from physflow.data_catalog.verify import verify_catalog

NOW = datetime.now(UTC)


def _artifact(catalog: Catalog, key: str, shard: str, clips: dict[str, bytes], *, days_ago: float,
              register: bool = True) -> Manifest:
    """An export artifact of `clips` (clip id -> the clip file's bytes, stored as blobs) for `shard`, registered as
    if `days_ago` days ago."""
    blobs = catalog.artifacts.blobs
    rows = []
    for clip, data in clips.items():
        uri, sha = blobs.put_bytes(data, "mp4")
        rows.append({"clip_id": clip, "video_id": clip.split(":")[0], "clip_uri": blobs.ref(uri), "clip_sha256": sha,
                     "export_mode": "reencode"})
    manifest = catalog.artifacts.write(stage="clip_export", version=1, key=key * 64, table_name=CLIP_FILES,
                                       table=pa.Table.from_pylist(rows, schema=TABLES[CLIP_FILES].schema), shard=shard, config={}, inputs=[])
    manifest = manifest.model_copy(update={"created_at": NOW - timedelta(days=days_ago)})
    if register:
        catalog.register(manifest)
    return manifest


def _superseded(cat: Catalog) -> Catalog:
    """Shard s1 exported three times (a, then b 10 days ago, then c a day ago), shard s2 once (d); e is complete on
    disk but not registered (a run stopped before registering it)."""
    _artifact(cat, "a", "s1", {"v1:0-10": b"only a", "v1:10-20": b"a and c", "v1:20-30": b"a and e"}, days_ago=20)
    _artifact(cat, "b", "s1", {"v1:0-10": b"only b"}, days_ago=10)
    _artifact(cat, "c", "s1", {"v1:0-10": b"a and c"}, days_ago=1)
    _artifact(cat, "d", "s2", {"v2:0-10": b"only d"}, days_ago=30)
    _artifact(cat, "e", "s3", {"v3:0-10": b"a and e"}, days_ago=0, register=False)
    return cat


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return _superseded(Catalog(tmp_path / "catalog"))


class _Blob:
    """A blob's file in a catalog's store, local or not."""

    def __init__(self, cat: Catalog, data: bytes):
        self.cat, self.path = cat, cat.artifacts.blobs.path(_sha(data), "mp4")

    def exists(self) -> bool:
        return self.cat.root.exists(self.path)


def _blob(cat: Catalog, data: bytes) -> _Blob:
    return _Blob(cat, data)


def _clips(cat: Catalog) -> list[tuple[str, str]]:
    return [tuple(r.values()) for r in cat.query("SELECT clip_id, clip_sha256 FROM clip_files ORDER BY 1").to_pylist()]


def test_prune_removes_artifacts_superseded_long_ago_and_the_blobs_only_they_held(catalog: Catalog):
    views = _clips(catalog)
    assert catalog.seal()
    dry = prune_catalog(catalog, older_than_s=7 * 86400, dry_run=True)
    assert [(s.stage, s.key[0]) for s in dry.pruned] == [("clip_export", "a")] and dry.kept_recent == 1
    assert dry.blobs == 1 and dry.blob_bytes == len(b"only a")
    assert _blob(catalog, b"only a").exists() and catalog.artifacts.exists("clip_export", "a" * 64)  # a dry run

    report = prune_catalog(catalog, older_than_s=7 * 86400)
    assert [s.key[0] for s in report.pruned] == ["a"] and report.kept_recent == 1  # b: superseded a day ago
    assert report.blobs == 1 and report.artifact_bytes > 0 and report.resealed
    assert not catalog.artifacts.exists("clip_export", "a" * 64)
    assert not catalog.root.exists(catalog.artifacts.data_path("clip_export", "a" * 64))
    assert ("clip_export", "a" * 64) not in catalog.registered()
    assert not _blob(catalog, b"only a").exists()
    for kept in (b"a and c", b"a and e", b"only b", b"only d"):  # current, on disk unregistered, recent, current
        assert _blob(catalog, kept).exists(), kept
    assert _clips(catalog) == views
    assert catalog.seal_holds()  # a warm run still trusts it without checking each artifact
    assert verify_catalog(catalog, grace_s=0).clean

    everything = prune_catalog(catalog, older_than_s=0)
    assert [s.key[0] for s in everything.pruned] == ["b"] and everything.blobs == 1
    assert not _blob(catalog, b"only b").exists()
    assert _clips(catalog) == views and verify_catalog(catalog, grace_s=0).clean
    assert prune_catalog(catalog, older_than_s=0).pruned == []


def test_an_artifact_made_current_again_is_not_superseded(catalog: Catalog):
    """A run that uses an old artifact again (its config changed back) registers it anew: it is current, and the
    one it replaced is what a prune removes."""
    old = catalog.artifacts.manifest("clip_export", "b" * 64)
    catalog.register(old)  # registered again now: b is its shard's newest
    report = prune_catalog(catalog, older_than_s=0)
    assert sorted(s.key[0] for s in report.pruned) == ["a", "c"]
    assert _clips(catalog) == [("v1:0-10", _sha(b"only b")), ("v2:0-10", _sha(b"only d"))]
    assert _blob(catalog, b"a and e").exists()  # e, on disk, still holds it
    assert not _blob(catalog, b"a and c").exists()


def test_prune_of_a_catalog_without_registry_does_nothing(tmp_path: Path):
    cat = Catalog(tmp_path / "none")
    report = prune_catalog(cat, older_than_s=0)
    assert report.pruned == [] and report.blobs == 0
    with pytest.raises(ValueError, match="older_than_s"):
        prune_catalog(cat, older_than_s=-1)


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_cli_prune_says_what_it_frees(catalog: Catalog):
    from typer.testing import CliRunner

    from physflow.flows.cli import app

    root = str(catalog.root.base)
    tables = CliRunner().invoke(app, ["--catalog", root, "catalog", "tables"])
    assert tables.exit_code == 0 and "2 superseded artifact(s)" in tables.output, tables.output
    dry = CliRunner().invoke(app, ["--catalog", root, "catalog", "prune", "--older-than", "0", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "2 superseded artifact(s) and 2 blob(s) only they referenced: would free" in dry.output
    assert catalog.artifacts.exists("clip_export", "a" * 64)
    done = CliRunner().invoke(app, ["--catalog", root, "catalog", "prune", "--older-than", "1w"])
    assert done.exit_code == 0 and "1 superseded artifact(s)" in done.output and "freed" in done.output
    after = CliRunner().invoke(app, ["--catalog", root, "catalog", "tables"]).output
    assert "1 superseded artifact(s)" in after  # b, superseded a day ago, stays
    bad = CliRunner().invoke(app, ["--catalog", root, "catalog", "prune", "--older-than", "soon"])
    assert bad.exit_code == 2 and "not a duration" in bad.output


def test_prune_of_a_catalog_in_an_object_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from physflow.data_catalog.storage import REGISTRY_HOME_ENV
    from tests.flows import s3_server

    monkeypatch.setenv(REGISTRY_HOME_ENV, str(tmp_path / "registries"))
    with s3_server.running() as endpoint:
        cat = _superseded(Catalog(f"s3://physflow-prune/catalog?endpoint_override={endpoint}&scheme=http"
                                  "&allow_bucket_creation=true"))
        views = _clips(cat)
        report = prune_catalog(cat, older_than_s=7 * 86400)
        assert [s.key[0] for s in report.pruned] == ["a"] and report.blobs == 1
        assert not cat.artifacts.exists("clip_export", "a" * 64) and not _blob(cat, b"only a").exists()
        assert all(_blob(cat, kept).exists() for kept in (b"a and c", b"a and e", b"only b", b"only d"))
        assert _clips(cat) == views and verify_catalog(cat, grace_s=0).clean
