"""Multi-index hashing agrees with a brute-force scan; dedup prefers catalog clips, then larger frames."""

from __future__ import annotations

import random

from physflow.stages.dedup import DedupConfig, DedupInput, DedupStage, HashIndex


def test_multi_index_finds_exactly_what_a_scan_finds():
    rnd = random.Random(0)
    base = [rnd.getrandbits(64) for _ in range(300)]
    noisy = [h ^ sum(1 << b for b in rnd.sample(range(64), rnd.randint(0, 14))) for h in base[:100]]
    index = HashIndex(chunks=4)
    for h in base:
        index.add(h)
    for q in noisy:
        scan = sorted((i, (h ^ q).bit_count()) for i, h in enumerate(base) if (h ^ q).bit_count() <= 10)
        assert sorted(index.query(q, 10)) == scan
    assert index.probes < 100 * 4 * 140  # bucket look-ups, not a scan of 300 hashes per query


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
