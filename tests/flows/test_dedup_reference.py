"""The dedup reference read artifact by artifact is the set of canonical clips the `clips` view shows."""

from __future__ import annotations

import random

import pyarrow as pa

from physflow.data_catalog import Catalog
from physflow.data_catalog.schemas import TABLES
from physflow.flows import curate
from physflow.stages.dedup import REFERENCE, DedupConfig

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


def test_a_batch_reads_and_is_keyed_by_the_reference_clips_near_its_own(tmp_path):
    """The digest of a set of clips is the same in any order, another set's is another. A batch's dedup reads the
    canonical clips near its own, whether the catalog held them or the run's earlier batches added them, and its key
    their digest: a clip added far from the batch's leaves it as it was, one near them changes it."""
    rnd = random.Random(0)
    hashes = [[rnd.getrandbits(64) for _ in range(3)] for _ in range(9)]
    rows = [{"clip_id": f"c{i}:0-50", "video_id": f"v{i}", "phash": _phash(hs)} for i, hs in enumerate(hashes)]
    table = pa.Table.from_pylist(rows, schema=REFERENCE)
    whole = curate._set_digest(table)
    assert curate._set_digest(table.take(pa.array([4, 0, 8, 2, 6, 1, 7, 3, 5]))) == whole
    assert curate._set_digest(pa.Table.from_pylist(rows[1:], schema=REFERENCE)) != whole
    changed = [{**rows[0], "phash": rows[1]["phash"]}, *rows[1:]]
    assert curate._set_digest(pa.Table.from_pylist(changed, schema=REFERENCE)) != whole

    def canonical(part: list[dict]) -> dict:  # measured, unlinked, kept and exported
        return {"clips": [{**r, "error": None} for r in part], "links": {}, "files": {},
                "decisions": {r["clip_id"]: {"keep": True} for r in part}}

    batch = [{"clip_id": f"b{i}:0-50", "video_id": f"b{i}", "phash": _phash([h ^ 0b111 for h in hashes[i]])}
             for i in (1, 6)]
    reference = curate._Reference(Catalog(tmp_path / "catalog"), set(), DedupConfig())
    assert reference.near([], batch)[0].num_rows == 0
    for part in (rows[:4], rows[4:]):  # two batches
        reference.add(**canonical(part))
    near, digest = reference.near([], batch)
    assert near.to_pylist() == [rows[1], rows[6]]
    assert digest == f"2:{curate._set_digest(near):064x}"
    far = [{"clip_id": "f:0-50", "video_id": "f", "phash": _phash([~h & (2**64 - 1) for h in hashes[1]])}]
    reference.add(**canonical(far))
    assert reference.near([], batch)[1] == digest  # a clip far from the batch's: the same key
    close = [{"clip_id": "a:0-50", "video_id": "a", "phash": _phash([h ^ 0b11 << 40 for h in hashes[6]])}]
    reference.add(**canonical(close))
    near, moved = reference.near([], batch)
    assert near.column("clip_id").to_pylist() == ["a:0-50", "c1:0-50", "c6:0-50"] and moved != digest


def _phash(hashes: list[int]) -> str:
    return "-".join(f"{h:016x}" for h in hashes)
