"""Measures on a sampled subset of frames decide like measures on every frame: on the shared real videos (the
damaged ones in broken/ too) the shot boundaries and every clip's keep/reject and reasons equal those of the
full-rate analysis.

The full-rate decisions are stored in sampling_golden.json; regenerate them (every frame measured) with
    .venv/bin/python -m tests.stages.analyze.test_sampling
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.analyze.quality import QualityConfig
from physflow.stages.common.video_io import probe
from physflow.stages.curate_filter import FilterConfig, FilterStage
from physflow.stages.dedup import DedupConfig, DedupInput, DedupStage

GOLDEN = Path(__file__).with_name("sampling_golden.json")


def decisions(folder: Path, config: AnalyzeConfig) -> dict[str, list[list[Any]]]:
    """Per readable real video in `folder` and its subfolders: its clips as [start, end, boundary, keep, the rules
    that rejected it]."""
    videos = []
    for path in sorted(folder.rglob("*.*"), key=lambda p: p.name):
        info = probe(path, decode="none")
        if not info.error:
            videos.append({"video_id": path.name, "uri": str(path), "fps": info.fps, "width": info.width,
                           "height": info.height, "error": None})
    clips = AnalyzeStage(config).run(videos).to_pylist()
    links = {r["clip_id"]: r for r in DedupStage(DedupConfig()).run([DedupInput(clips, [])]).to_pylist()}
    rows = [{**c, "duplicate_of": links[c["clip_id"]]["duplicate_of"]} for c in clips]
    kept = {r["clip_id"]: r for r in FilterStage(FilterConfig()).run([rows]).to_pylist()}
    out: dict[str, list[list[Any]]] = {}
    for c in clips:
        d = kept[c["clip_id"]]
        rules = [r.split(":", 1)[0] for r in (d["reject_reason"] or "").split(" | ") if r]
        out.setdefault(c["video_id"], []).append([c["start_frame"], c["end_frame"], c["boundary"], d["keep"], rules])
    return out


def full_rate() -> AnalyzeConfig:
    return AnalyzeConfig(quality=QualityConfig(sample_fps=None))


@pytest.mark.timeout(300)
def test_sampled_measures_keep_every_decision_and_boundary(real_videos):
    golden = json.loads(GOLDEN.read_text())
    sampled = decisions(real_videos, AnalyzeConfig())
    assert AnalyzeConfig().quality.sample_fps is not None
    assert sampled == golden


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[4] / "shared/data/real/videos"
    found = decisions(folder, full_rate())
    GOLDEN.write_text("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in found.items()) + "\n}\n")
    print(f"wrote {GOLDEN}")
