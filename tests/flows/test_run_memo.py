"""A curation run over the same inputs and parameters, on a catalog nothing changed since the last such run, stands
on that run's memo (flows/run_memo.py): the same artifacts and counts, one Cached task run per stage, no artifact
read. Any change in between (a new input, another config, another run's registrations, a damaged file) and the
run plans as usual, with the results it would give without a memo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from physflow.data_catalog import Catalog
from physflow.data_catalog.artifacts import ArtifactStore
from physflow.flows import run_memo
from physflow.flows.curate import CurateParams, curate_flow
from physflow.flows.runtime import task_run_count
from physflow.stages.analyze import AnalyzeConfig
from physflow.stages.clip_export import ExportConfig
from physflow.stages.common.video_io import write_video
from physflow.stages.curate_filter import FilterConfig

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.timeout(600)]

FRAMES, FPS, W, H = 50, 25.0, 96, 64


def _video(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (H, W + FRAMES, 3), dtype=np.uint8), (5, 5), 0)
    return write_video(path, (texture[:, i:i + W] for i in range(FRAMES)), FPS, crf=30)


def _params(inputs: list[Path], catalog: Path, **filter_config: object) -> CurateParams:
    return CurateParams(inputs=[str(p) for p in inputs], catalog=str(catalog), shard_size=2, batch_videos=4,
                        analyze=AnalyzeConfig(width=64), filter=FilterConfig(min_height=0, **filter_config),
                        export=ExportConfig(short_side=32, max_frames=10))


@pytest.fixture()
def reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Artifacts this process reads (the flow plans each stage's jobs from the rows of the stage before)."""
    count = {"n": 0}
    read = ArtifactStore.read

    def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        count["n"] += 1
        return read(self, *args, **kwargs)

    monkeypatch.setattr(ArtifactStore, "read", counted)
    return count


def _run(params: CurateParams, reads: dict[str, int]) -> tuple[list[tuple[str, str]], dict[str, object], int, int]:
    """(stage, key) of the run's artifacts, its counts (timings aside: a shard computed again takes its own time), its task runs and the artifacts it read."""
    reads["n"] = 0
    result = curate_flow(params)
    counts = {k: v for k, v in result.summary.items() if k not in ("seconds", "frames_per_s", "analysis_seconds")}
    return [(r.stage, r.key) for r in result.refs], counts, task_run_count(result.refs), reads["n"]


def test_a_rerun_stands_on_its_memo(tmp_path, reads):
    folder = tmp_path / "videos"
    for i in range(6):
        _video(folder / f"v{i}.mp4", seed=i)
    params = _params([folder], tmp_path / "catalog")
    refs, counts, _, read = _run(params, reads)
    assert read > 0 and counts["kept"] >= 3
    stages = {stage for stage, _ in refs}
    assert stages == {"ingest", "analyze", "dedup", "curate_filter", "clip_export"}

    again = _run(params, reads)
    assert again == (refs, counts, len(stages), 0)  # one Cached task run per stage, nothing read
    assert len(list((tmp_path / "catalog" / run_memo.MEMO_DIR).glob("*.json"))) == 1


def test_the_memo_gives_way_to_any_change(tmp_path, reads):
    folder, more = tmp_path / "videos", tmp_path / "more"
    for i in range(5):
        _video(folder / f"v{i}.mp4", seed=i)
    _video(more / "w.mp4", seed=100)
    catalog = tmp_path / "catalog"
    params = _params([folder], catalog)
    refs, counts, *_ = _run(params, reads)
    assert _run(params, reads)[3] == 0

    # another run's registrations: the catalog changed, so the first run plans again, with the same artifacts and
    # counts (its dedup reference now holds the other video's clips, none near its own: its dedup key stands)
    other = _run(_params([more], catalog), reads)
    assert other[3] > 0 and other[1]["videos"] == 1
    planned = _run(params, reads)
    assert planned[3] > 0 and planned[:2] == (refs, counts)
    assert _run(params, reads)[3] == 0  # and stands on its new memo

    # another config: its own run (the decisions differ), then its own memo
    strict = _params([folder], catalog, min_duration_s=5.0)
    stricter = _run(strict, reads)
    assert stricter[3] > 0 and stricter[1]["kept"] == 0
    assert _run(strict, reads)[3] == 0

    # a damaged artifact: the seal no longer holds, the run checks what it uses and computes the damaged one again
    analysis = next(key for stage, key in refs if stage == "analyze")
    data = Path(Catalog(catalog).artifacts.data_path("analyze", analysis))
    data.write_bytes(data.read_bytes()[:-10])
    repaired = _run(params, reads)
    assert repaired[:2] == (refs, counts) and repaired[3] > 0
    assert _run(params, reads)[3] == 0

    # a new input: planned, only its shards computed
    _video(folder / "v9.mp4", seed=9)
    grown = _run(params, reads)
    assert grown[3] > 0 and grown[1]["videos"] == 6
    assert _run(params, reads)[:2] == grown[:2]


def test_only_the_newest_memos_are_kept(tmp_path, reads, monkeypatch):
    monkeypatch.setattr(run_memo, "KEPT", 2)
    folder = tmp_path / "videos"
    _video(folder / "v0.mp4", seed=0)
    for seconds in (1.0, 1.5, 1.8):
        _run(_params([folder], tmp_path / "catalog", min_duration_s=seconds), reads)
    assert len(list((tmp_path / "catalog" / run_memo.MEMO_DIR).glob("*.json"))) == 2
