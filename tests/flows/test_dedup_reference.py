"""The dedup reference read artifact by artifact is the set of canonical clips the `clips` view shows."""

from __future__ import annotations

import pyarrow as pa

from physflow.data_catalog import Catalog
from physflow.data_catalog.schemas import TABLES
from physflow.flows import curate
from physflow.stages.dedup import REFERENCE

CANONICAL = "phash IS NOT NULL AND error IS NULL AND duplicate_of IS NULL AND keep IS NOT NULL"


def _register(catalog: Catalog, stage: str, table: str, shard: str, rows: list[dict]) -> None:
    key = f"{stage}-{shard}-{len(catalog.registered())}"
    catalog.register(catalog.artifacts.write(
        stage=stage, version=1, key=key, table_name=table, shard=shard, config={}, inputs=[shard],
        table=pa.Table.from_pylist(rows, schema=TABLES[table].schema)))


def test_reference_matches_the_clips_views_canonical_clips(tmp_path):
    catalog = Catalog(tmp_path / "catalog")

    def measured(clip: str, video: str = "v1", phash: str | None = "00ff", error: str | None = None) -> dict:
        return {"clip_id": clip, "video_id": video, "phash": phash, "error": error}

    clips = ["c1", "c2", "c3", "c4", "c7", "c8", "c9", "c12"]
    _register(catalog, "analyze", "clip_measures", "a", [measured(c) for c in clips]
              + [measured("c5", phash=None), measured("c6", error="decode failed"), measured("c13")])
    _register(catalog, "analyze", "clip_measures", "a", [measured(c) for c in clips if c != "c9"]  # supersedes
              + [measured("c5", phash=None), measured("c6", error="decode failed"), measured("c9", video="v9")])  # c13 gone
    _register(catalog, "analyze", "clip_measures", "b", [measured("c8", error="decode failed")])  # newer c8 row
    _register(catalog, "dedup", "clip_duplicates", "d", [
        {"clip_id": c, "video_id": "v1", "duplicate_of": "c1" if c == "c3" else None} for c in clips])
    _register(catalog, "curate_filter", "clip_decisions", "f", [
        {"clip_id": c, "video_id": "v1", "keep": c != "c2", "error": "policy failed" if c == "c12" else None}
        for c in clips if c != "c4"] + [{"clip_id": "c13", "video_id": "v1", "keep": True}])
    _register(catalog, "clip_export", "clip_files", "e", [
        {"clip_id": "c1", "video_id": "v1"}, {"clip_id": "c7", "video_id": "v1", "error": "encode failed"}])
    _register(catalog, "legacy", "clips", "l", [  # straight into `clips`: shown where no stage measured the clip
        {"clip_id": "c10", "video_id": "v2", "phash": "0f0f", "keep": False},
        {"clip_id": "c1", "video_id": "v2", "phash": "ffff", "keep": True},
        {"clip_id": "c11", "video_id": "v2", "phash": "0f0f", "keep": None}])

    expected = catalog.query(f"SELECT clip_id, video_id, phash FROM clips WHERE {CANONICAL} "
                             "AND video_id <> 'v9' ORDER BY clip_id").to_pylist()
    assert [r["clip_id"] for r in expected] == ["c1", "c10", "c2"]  # every other clip fails one test
    assert curate._reference(catalog, {"v9"}, []).to_pylist() == expected
    assert curate._reference(catalog, set(), []).column("clip_id").to_pylist() == ["c1", "c10", "c2", "c9"]


def test_the_reference_digest_is_its_sets_in_any_order_and_batching(tmp_path):
    """A batch's dedup key reads the reference's digest, not its rows: the same clips give the same digest whether
    the catalog held them or the run's earlier batches added them, in any order; another set gives another."""
    rows = [{"clip_id": f"c{i}:0-50", "video_id": f"v{i}", "phash": f"{i:016x}-{i * 7:016x}-{i * 11:016x}"}
            for i in range(9)]
    table = pa.Table.from_pylist(rows, schema=REFERENCE)
    whole = curate._set_digest(table)
    assert curate._set_digest(table.take(pa.array([4, 0, 8, 2, 6, 1, 7, 3, 5]))) == whole
    assert curate._set_digest(pa.Table.from_pylist(rows[1:], schema=REFERENCE)) != whole
    changed = [{**rows[0], "phash": rows[1]["phash"]}, *rows[1:]]
    assert curate._set_digest(pa.Table.from_pylist(changed, schema=REFERENCE)) != whole

    reference = curate._Reference(Catalog(tmp_path / "catalog"), set())
    assert reference.before([])[0].num_rows == 0
    for part in (rows[:4], rows[4:]):  # two batches: every clip measured, unlinked, kept and exported
        reference.add([{**r, "error": None} for r in part], links={}, files={},
                      decisions={r["clip_id"]: {"keep": True} for r in part})
    added, digest = reference.before([])
    assert sorted(added.to_pylist(), key=lambda r: r["clip_id"]) == rows
    assert digest == f"9:{whole:064x}"
