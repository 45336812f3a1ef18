"""`physflow status`: the last runs of each flow and stage, read from the Prefect API."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.pipeline import PipelineParams, pipeline_flow

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.mark.timeout(180)
def test_status_lists_flow_runs_and_stages(demo_videos, catalog_root):
    report = pipeline_flow(PipelineParams(inputs=[str(demo_videos[0].parent)], catalog=str(catalog_root),
                                          ingest={"shard_size": 4}, previews=0))
    result = CliRunner().invoke(app, ["status", "--limit", "50"])
    assert result.exit_code == 0, result.output
    out = result.output
    shards = report.steps[0].totals["ingest"]["shards"]
    assert re.search(r"physflow-pipeline\s*│\s*\S+\s*│\s*Completed\s*│.*│\s*Completed: 2\s*│", out), out
    assert re.search(rf"ingest-videos\s*│\s*\S+\s*│\s*Completed\s*│.*│\s*Completed: {shards}\s*│", out), out
    # The stages table: the ingest stage's newest task run, in the newest ingest flow run.
    newest_ingest = re.search(r"ingest-videos\s*│\s*(\S+)", out).group(1)
    assert re.search(rf"│\s*ingest\s*│\s*Completed\s*│[^│]*│\s*{newest_ingest}\s*│", out), out


def test_status_names_an_unreachable_api(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2 and "127.0.0.1:9" in result.output
