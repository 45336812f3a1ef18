"""`physflow status`: the last runs of each flow and stage, read from the Prefect API."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from physflow.flows.cli import app
from physflow.flows.pipeline import PipelineParams, pipeline_flow

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.mark.timeout(180)
def test_status_lists_flow_runs_and_stages(demo_videos, catalog_root):
    report = pipeline_flow(PipelineParams(catalog=str(catalog_root), previews=0,
                                          curate={"inputs": [str(demo_videos[0].parent)], "shard_size": 4}))
    result = CliRunner().invoke(app, ["status", "--limit", "50"])
    assert result.exit_code == 0, result.output
    out = result.output
    curate_runs = sum(sum(c.values()) for c in report.steps[0].task_states.values())
    assert re.search(r"physflow-pipeline\s*│\s*\S+\s*│\s*Completed\s*│.*│\s*Completed: 5\s*│", out), out  # one per nested flow run
    assert re.search(rf"curate-videos\s*│\s*\S+\s*│\s*Completed\s*│.*│\s*Completed: {curate_runs}\s*│", out), out
    # The stages table: each curation stage's newest task run, in the newest curate flow run.
    newest = re.search(r"curate-videos\s*│\s*(\S+)", out).group(1)
    for stage in ("ingest", "analyze", "dedup", "curate_filter"):
        assert re.search(rf"│\s*{stage}\s*│\s*Completed\s*│[^│]*│\s*{newest}\s*│", out), out


def test_status_names_an_unreachable_api(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2 and "127.0.0.1:9" in result.output
