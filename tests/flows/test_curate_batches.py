"""A curation run in several batches: the shards of one batch, duplicates across batches, a Cached re-run."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from physflow.data_catalog import Catalog
from physflow.data_catalog.catalog import STALE_VIEW
from physflow.flows.curate import CurateParams, curate_flow
from physflow.stages.clip_export import ExportConfig
from physflow.stages.common.video_io import iter_frames, probe, write_video
from tests.flows.test_ingest_flow import _task_states

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.timeout(600)]

SOURCES = ("decord_flipping_a_pancake.mkv", "sam2_04_coffee_pour.mp4", "testfiles_static_wall.mov")


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _params(folder, catalog, batch_videos: int) -> CurateParams:
    # shard_size 1: ingest shards of 8 videos on average; batch_videos 1: each of them a batch of its own
    return CurateParams(inputs=[str(folder)], catalog=str(catalog), shard_size=1, batch_videos=batch_videos,
                        export=ExportConfig(short_side=96, max_frames=30))


def test_batches_keep_the_shards_and_dedup_against_the_batches_before(real_videos, tmp_path, monkeypatch):
    """... and the catalog is sealed after each batch, not after each stage (each seal proves the whole catalog),
    its seal checked once per run: later stages trust what the run found sealed and what it registered."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in SOURCES:
        shutil.copy(real_videos / name, folder / name)
    pancake = folder / SOURCES[0]
    boundary = int(_sha(pancake)[:12], 16)
    assert boundary % 8 == 0  # its content key ends an ingest shard: a copy whose key is larger is in a later one
    fps = probe(pancake, decode="none").fps
    for crf in range(30, 50):
        copy = folder / "pancake_copy.mp4"
        write_video(copy, (f for _, f in iter_frames(pancake, width=320)), fps, crf=crf)
        if int(_sha(copy)[:12], 16) > boundary:
            break
    else:
        pytest.fail("no re-encoded copy hashed after the original")

    calls: list[str] = []

    def counted(name: str):
        method = getattr(Catalog, name)
        return lambda self: calls.append(name) or method(self)

    for name in ("seal", "seal_holds", "refresh_views"):
        monkeypatch.setattr(Catalog, name, counted(name))
    batched = curate_flow(_params(folder, tmp_path / "batched", batch_videos=1))
    batches = len({r.key for r in batched.refs if r.stage == "dedup"})
    assert batches > 1 and [c for c in calls if c != "refresh_views"] == ["seal_holds", *["seal"] * batches], calls
    # Views the stages' shards left stale are rebuilt once a batch, before its seal, not at each stage's end.
    assert all(calls[i + 1] == "seal" for i, c in enumerate(calls) if c == "refresh_views"), calls
    assert Catalog(tmp_path / "batched").query(
        "SELECT count(*) AS n FROM physflow_meta WHERE starts_with(name, ?)", [STALE_VIEW]).to_pylist() == [{"n": 0}]
    assert Catalog(tmp_path / "batched").trusted_keys() == {key for _, key in Catalog(tmp_path / "batched").registered()}
    calls.clear()
    whole = curate_flow(_params(folder, tmp_path / "whole", batch_videos=10_000))
    assert calls == ["seal_holds", "refresh_views", "seal"], calls  # one batch: its stale views rebuilt once

    def keys(result, stage: str) -> set[str]:
        return {r.key for r in result.refs if r.stage == stage}

    # The same ingest, analysis and export artifacts: batch boundaries are shard boundaries.
    for stage in ("ingest", "analyze", "clip_export"):
        assert keys(batched, stage) == keys(whole, stage), stage
    assert len(keys(batched, "dedup")) > 1 == len(keys(whole, "dedup"))

    rows = Catalog(tmp_path / "batched").query("SELECT * FROM clips ORDER BY clip_id").to_pylist()
    originals = {r["clip_id"] for r in rows if r["video_id"] == _sha(pancake)[:16] and r["keep"]}
    copies = [r for r in rows if r["video_id"] == _sha(copy)[:16]]
    assert originals and copies and {r["duplicate_of"] for r in copies} == originals
    assert all(r["reject_reason"].startswith("duplicate:") for r in copies)
    assert batched.summary["kept"] == whole.summary["kept"] and batched.summary["clips"] == whole.summary["clips"]

    calls.clear()
    state = curate_flow(_params(folder, tmp_path / "batched", batch_videos=1), return_state=True)
    warm = state.result()
    assert calls == ["seal_holds"], calls
    assert set(_task_states(state.state_details.flow_run_id, warm.refs)) == {"Cached"}
    assert [r.key for r in warm.refs] == [r.key for r in batched.refs]


def test_batches_are_whole_ingest_shards_and_a_new_video_moves_few():
    from physflow.data_catalog.sharding import content_shards
    from physflow.flows.curate import _batches
    from physflow.stages.ingest import IngestItem

    def items(n: int, extra: tuple[str, ...] = ()) -> list[IngestItem]:
        names = [*(str(i) for i in range(n)), *extra]
        return [IngestItem(path=name, sha256=hashlib.sha256(name.encode()).hexdigest()) for name in names]

    params = CurateParams(inputs=["x"], shard_size=4, batch_videos=200)  # ingest shards of 32 videos on average
    before = _batches(items(5000), params)
    shards = content_shards(items(5000), [i.sha256 for i in items(5000)], 32)
    assert sum(map(len, before)) == 5000 and max(map(len, before)) <= 200 + max(map(len, shards))
    assert len(before) >= 5000 // (200 + 128)
    starts = set()
    for shard in shards:
        starts.add(shard[0].path)
    assert all(batch[0].path in starts for batch in before)  # a batch starts where an ingest shard starts
    after = _batches(items(5000, ("new",)), params)
    changed = [b for b in after if [i.path for i in b] not in [[i.path for i in c] for c in before]]
    assert 1 <= len(changed) <= 2 and any(i.path == "new" for b in changed for i in b)
