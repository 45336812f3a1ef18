"""Adding one video to a catalog of 200 curated videos: only the shards holding the new video compute, in
every curation stage, besides dedup's one global index update; every other task run is Cached. Inside those
shards, ingest, analysis and export compute only the new video and reuse the other videos' rows. The filter
decides a group of analysis shards per job (flows/curate.py FILTER_GROUP): the new video's group computes, or the
two its changed shard splits a group into (a few hundred decisions, microseconds each).

Each curation stage writes its own table keyed by clip_id (measures, duplicate links, decisions, files) and
the `clips` view joins them, so the old clips read the same before and after.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from physflow.data_catalog import Catalog
from physflow.flows.curate import CurateParams, curate_flow
from physflow.stages.analyze import AnalyzeConfig
from physflow.stages.clip_export import ExportConfig
from physflow.stages.common.video_io import write_video
from physflow.stages.curate_filter import FilterConfig
from tests.flows.test_ingest_flow import _task_states

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.timeout(600)]

OLD_VIDEOS = 200
FRAMES, FPS, W, H = 50, 25.0, 96, 64  # 2 s: one clip each, at the filter's minimum duration


def _video(path: Path, seed: int) -> Path:
    """A smooth random texture drifting one pixel per frame: textured, moving, unique per seed."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (H, W + FRAMES, 3), dtype=np.uint8), (5, 5), 0)
    return write_video(path, (texture[:, i:i + W] for i in range(FRAMES)), FPS, crf=30)


def _params(folder: Path, catalog: Path) -> CurateParams:
    return CurateParams(inputs=[str(folder)], catalog=str(catalog), shard_size=16,
                        analyze=AnalyzeConfig(width=64), filter=FilterConfig(min_height=0),
                        export=ExportConfig(short_side=32, max_frames=10))


def _stage_counts(flow_state, refs, known: set[str]) -> dict[str, Counter]:
    """Per stage, task runs Completed (computed) vs Cached, from Prefect, checked against the artifacts
    that did not exist before the run."""
    states = _task_states(flow_state.state_details.flow_run_id, refs, with_names=True)
    counts: dict[str, Counter] = {}
    for stage, state in states:
        counts.setdefault(stage, Counter())[state] += 1
    computed = Counter(r.stage for r in refs if r.key not in known)
    assert {s: c["Completed"] for s, c in counts.items() if c["Completed"]} == dict(computed), (counts, computed)
    return counts


def test_one_new_video_computes_only_its_shards(tmp_path):
    folder, catalog_root = tmp_path / "videos", tmp_path / "catalog"
    for i in range(OLD_VIDEOS):
        _video(folder / f"v{i:03d}.mp4", seed=i)
    params = _params(folder, catalog_root)
    first = curate_flow(params)
    catalog = Catalog(catalog_root)
    before = catalog.query("SELECT * FROM clips ORDER BY clip_id").to_pylist()
    assert len(before) == OLD_VIDEOS and sum(r["keep"] for r in before) >= OLD_VIDEOS // 2
    known = {r["key"] for r in catalog.query("SELECT key FROM artifacts").to_pylist()}

    new_id = _new_video_id(_video(folder / "new.mp4", seed=10_000))
    state = curate_flow(params, return_state=True)
    refs = state.result().refs
    counts = _stage_counts(state, refs, known)
    print("task runs per stage (adding 1 video to 200):", {s: dict(c) for s, c in counts.items()})

    computed = [r for r in refs if r.key not in known]
    per_stage = Counter(r.stage for r in computed)
    assert per_stage.pop("curate_filter") in (1, 2)
    assert per_stage == {"ingest": 1, "analyze": 1, "dedup": 1, "clip_export": 1}
    for ref in computed:
        if ref.stage not in ("dedup", "curate_filter"):  # dedup's index update is the one global task
            assert new_id in _video_ids(catalog, ref), ref.stage
    assert any(new_id in _video_ids(catalog, r) for r in computed if r.stage == "curate_filter")
    # Within the new video's shard, ingest, analysis and export compute only the new video: the others' rows come
    # from the artifacts that held them before (their items are the same under the same config).
    for ref in computed:
        if ref.stage in ("ingest", "analyze", "clip_export"):
            assert ref.stats["items"] >= 2 and ref.stats["reused_items"] == ref.stats["items"] - 1, ref.stats
    # Every shard not computed again is vouched for by the catalog's seal: one Cached task run per stage.
    unchanged = [r for r in refs if r.key in known]
    # all but 4 shards (a filter group or two) and dedup
    assert all(r.sealed for r in unchanged) and len(first.refs) - 6 <= len(unchanged) <= len(first.refs) - 5
    assert sum(c["Cached"] for c in counts.values()) == len({r.stage for r in unchanged})
    assert len(refs) <= len(first.refs) + 5  # the same shards, the new video's replacing (or splitting) one

    after = {r["clip_id"]: r for r in catalog.query("SELECT * FROM clips").to_pylist()}
    # Old clips read the same through the join, their exported files included.
    changed = {r["clip_id"]: {k for k in r if r[k] != after[r["clip_id"]][k]} for r in before}
    assert not {c: cols for c, cols in changed.items() if cols}
    assert all(after[r["clip_id"]]["clip_uri"] for r in before if r["keep"])
    new = [r for r in after.values() if r["video_id"] == new_id]
    assert len(new) == 1 and new[0]["keep"] and new[0]["clip_uri"]


def _new_video_id(path: Path) -> str:
    from physflow.data_catalog.keys import file_sha256

    return file_sha256(path)[:16]


def _video_ids(catalog: Catalog, ref) -> set[str]:
    return set(catalog.artifacts.read(ref.stage, ref.key).column("video_id").to_pylist())
