"""Multi-index hashing agrees with a brute-force scan; dedup prefers catalog clips, then larger frames."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from physflow.stages.dedup import REFERENCE, DedupConfig, DedupInput, DedupStage, HashIndex, ReferenceIndex, parse_phash
from physflow.stages.dedup import index as dedup_index
from physflow.stages.dedup.index import FrozenHashIndex, middle_hashes


@pytest.mark.parametrize("frozen", [False, True, "tables"], ids=["incremental", "frozen", "frozen-tables"])
@pytest.mark.parametrize("chunks", [4, 8])
def test_multi_index_finds_exactly_what_a_scan_finds(frozen, chunks, monkeypatch):
    if frozen == "tables":  # bucket bounds looked up in tables, as a large index's are
        monkeypatch.setattr(dedup_index, "_TABLE_FROM", 0)
    rnd = random.Random(chunks)
    base = [rnd.getrandbits(64) for _ in range(300)]
    base[7] = base[8]  # equal hashes are each found
    noisy = [h ^ sum(1 << b for b in rnd.sample(range(64), rnd.randint(0, 14))) for h in base[:100]]
    if frozen:
        index: HashIndex | FrozenHashIndex = FrozenHashIndex(np.array(base, np.uint64), chunks=chunks)
    else:
        index = HashIndex(chunks=chunks)
        for h in base:
            index.add(h)
    for q in noisy:
        scan = sorted((i, (h ^ q).bit_count()) for i, h in enumerate(base) if (h ^ q).bit_count() <= 10)
        assert index.query(q, 10) == sorted(scan, key=lambda hit: (hit[1], hit[0]))  # nearest first
    if chunks == 4:
        assert index.probes < 100 * 4 * 140  # bucket look-ups, not a scan of 300 hashes per query
    if frozen:  # the union of many queries' hits at once, probed a block of queries at a time
        union = sorted({i for q in noisy for i, h in enumerate(base) if (h ^ q).bit_count() <= 10})
        assert index.near_any(np.array(noisy, np.uint64), 10, block=7).tolist() == union
        assert index.near_any(np.zeros(0, np.uint64), 10).tolist() == []
    assert FrozenHashIndex(np.zeros(0, np.uint64), chunks=chunks).query(base[0], 10) == []


def test_middle_hashes_read_in_bulk_are_the_middle_keyframes():
    rnd = random.Random(1)
    counts = [3, 3, 1, 5, 3, 8, 1]
    texts = ["-".join(f"{rnd.getrandbits(64):016x}" for _ in range(k)) for k in counts]
    texts[0] = texts[0].upper()
    expected = [int(t.split("-")[len(t.split("-")) // 2], 16) for t in texts]
    chunked = pa.chunked_array([pa.array(texts[:4]), pa.array(texts[4:])])
    assert middle_hashes(chunked).tolist() == expected
    assert middle_hashes(pa.array(texts[2:5]).slice(1)).tolist() == expected[3:5]  # an offset into the buffers
    assert middle_hashes(pa.chunked_array([], pa.string())).tolist() == []
    for bad in ("00ff", "g" * 16, f"{1:016x}-{2:015x}"):
        with pytest.raises(ValueError, match="16 hex digits"):
            middle_hashes(pa.array([bad]))


def _clip(cid: str, video: str, hashes: list[int], height: int = 720) -> dict:
    return {"clip_id": cid, "video_id": video, "start_frame": 0, "end_frame": 60, "duration_s": 2.0,
            "width": height * 16 // 9, "height": height, "phash": "-".join(f"{h:016x}" for h in hashes)}


def test_reference_wins_then_larger_frame_and_own_windows_are_no_duplicates():
    hs = [0x0F0F_F0F0_1234_5678, 0xAAAA_5555_0000_FFFF, 0x1357_9BDF_2468_ACE0]
    near = [h ^ 0b101 for h in hs]
    other = [h ^ 0xFFFF_FFFF_0000_0000 for h in hs]
    reference = [{"clip_id": "r:0-60", "video_id": "r", "phash": "-".join(f"{h:016x}" for h in hs)}]
    clips = [_clip("a:0-60", "a", near, 360), _clip("b:0-60", "b", hs, 720), _clip("c:0-60", "c", other),
             _clip("c:60-120", "c", other)]
    rows = {r["clip_id"]: r for r in DedupStage(DedupConfig()).run([DedupInput(clips, reference)]).to_pylist()}
    assert rows["b:0-60"]["duplicate_of"] == "r:0-60" and rows["b:0-60"]["dup_distance"] == 0
    assert rows["a:0-60"]["duplicate_of"] == "r:0-60" and rows["a:0-60"]["dup_distance"] == 2
    assert rows["c:0-60"]["duplicate_of"] is None and rows["c:60-120"]["duplicate_of"] is None
    alone = {r["clip_id"]: r for r in DedupStage(DedupConfig()).run([DedupInput(clips, [])]).to_pylist()}
    assert alone["b:0-60"]["duplicate_of"] is None  # the 720p copy is kept over the 360p one
    assert alone["a:0-60"]["duplicate_of"] == "b:0-60"


def test_a_reference_table_matches_as_its_rows_do_and_ties_go_to_the_lower_clip_id():
    rnd = random.Random(2)
    hashes = [[rnd.getrandbits(64) for _ in range(3)] for _ in range(500)]
    rows = [{"clip_id": f"r{i:04d}:0-60", "video_id": f"r{i}", "phash": "-".join(f"{h:016x}" for h in hs)}
            for i, hs in enumerate(hashes)]
    twin = {**rows[10], "clip_id": "a-twin:0-60", "video_id": "twin"}  # the same hashes as r0010, a lower id
    clips = [_clip(f"q{i}:0-60", f"q{i}", [h ^ (1 << (i % 64)) for h in hashes[i * 7]], 360) for i in range(60)]
    reference = [*rows, twin]
    rnd.shuffle(reference)  # matching does not depend on the reference's order
    stage = DedupStage(DedupConfig())
    as_rows = stage.run([DedupInput(clips, reference)]).to_pylist()
    as_table = stage.run([DedupInput(clips, pa.Table.from_pylist(reference, schema=REFERENCE))]).to_pylist()
    assert as_rows == as_table
    links = {r["clip_id"]: r["duplicate_of"] for r in as_table}
    assert all(links[f"q{i}:0-60"] == f"r{i * 7:04d}:0-60" for i in range(60))
    assert {r["dup_distance"] for r in as_table} == {1}
    tie = [_clip("t:0-60", "t", hashes[10], 360)]
    assert stage.run([DedupInput(tie, reference)]).to_pylist()[0]["duplicate_of"] == "a-twin:0-60"


def test_dedup_against_the_reference_clips_near_a_batch_links_as_against_the_whole_reference():
    """Candidates: every reference clip whose middle hash is near a batch clip's, however far its other keyframes
    lie, and no other; dedup against them gives the links dedup against the whole reference gives."""
    rnd = random.Random(3)
    hashes = [[rnd.getrandbits(64) for _ in range(3)] for _ in range(2000)]
    rows = [{"clip_id": f"r{i:04d}:0-60", "video_id": f"r{i}", "phash": "-".join(f"{h:016x}" for h in hs)}
            for i, hs in enumerate(hashes)]
    flip = lambda h, n: h ^ sum(1 << b for b in rnd.sample(range(64), n))  # noqa: E731
    clips = [_clip(f"q{i}:0-60", f"q{i}", [flip(h, rnd.randint(0, 12)) for h in hashes[i * 13]], 360)
             for i in range(120)]  # near copies, some too far (beyond 10 bits) on a keyframe
    clips.append(_clip("far:0-60", "far", [hashes[5][0], flip(hashes[5][1], 30), hashes[5][2]]))  # middle far
    clips.append({**_clip("bad:0-60", "bad", hashes[6]), "error": "analysis failed"})  # not compared
    table = pa.Table.from_pylist(rows, schema=REFERENCE)
    found = ReferenceIndex(table, 4).candidates(clips, 10)
    middles = middle_hashes(table.column("phash"))
    queries = [parse_phash(c["phash"])[1] for c in clips if not c.get("error")]
    expected = [r["clip_id"] for r, m in zip(rows, middles.tolist(), strict=True)
                if any((m ^ q).bit_count() <= 10 for q in queries)]
    assert found.column("clip_id").to_pylist() == expected
    assert "r0005:0-60" not in expected and "r0006:0-60" not in expected and 60 < len(expected) < 200
    stage = DedupStage(DedupConfig())
    whole = stage.run([DedupInput(clips, table)]).to_pylist()
    assert stage.run([DedupInput(clips, found)]).to_pylist() == whole
    assert sum(r["duplicate_of"] is not None for r in whole) > 40  # the comparison is not empty
    assert ReferenceIndex(REFERENCE.empty_table(), 4).candidates(clips, 10).num_rows == 0
