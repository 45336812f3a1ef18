"""Scale-out: the pipeline on prefect-dask with two worker processes gives the default runner's artifacts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from data_catalog import Catalog
from flows.pipeline import PipelineParams, pipeline_flow
from stages import video_io

pytestmark = pytest.mark.usefixtures("prefect_api")


def _artifacts(root: Path) -> list[tuple[str, str, str, int]]:
    rows = Catalog(root).query("SELECT stage, key, content_sha256, rows FROM artifacts ORDER BY key").to_pylist()
    return [(r["stage"], r["key"], r["content_sha256"], r["rows"]) for r in rows]


def _files(root: Path, folder: str) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((root / folder).rglob("*.p*"))
            if ".tmp-" not in p.name}


@pytest.mark.timeout(420)
def test_dask_runner_gives_identical_artifacts(demo_videos, tmp_path):
    folder = str(demo_videos[0].parent)
    default = PipelineParams(inputs=[folder], catalog=str(tmp_path / "default"), ingest={"shard_size": 1},
                             previews=3)
    dask = default.model_copy(update={"catalog": str(tmp_path / "dask"),
                                      "runner": {"kind": "dask", "workers": 2}})
    dask = PipelineParams.model_validate(dask.model_dump())
    pipeline_flow(default)
    opened = video_io.OPEN_COUNT
    b = pipeline_flow(dask)
    # Every video was probed in the Dask worker processes; this process opened only the 3 it made previews of.
    assert video_io.OPEN_COUNT == opened + 3
    assert b.runner == "dask" and b.steps[0].task_states == {"ingest": {"Completed": 4}}
    assert _artifacts(tmp_path / "default") == _artifacts(tmp_path / "dask")
    assert len(_artifacts(tmp_path / "dask")) == 4
    assert _files(tmp_path / "default", "artifacts/ingest") == _files(tmp_path / "dask", "artifacts/ingest")
    assert _files(tmp_path / "default", "previews") == _files(tmp_path / "dask", "previews")
