"""The physics-context flow and `physflow enrich`: prompts, caption tables and sidecars, Prefect caching."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from physflow.data_catalog import Catalog
from physflow.flows.cli import app
from physflow.flows.physics_context import PhysicsParams, physics_context_flow

pytestmark = pytest.mark.usefixtures("prefect_api")
runner = CliRunner()


def test_flow_over_prompts_tables_and_sidecars(demo_videos, tmp_path, catalog_root):
    video = next(v for v in demo_videos if v.name == "bouncing_ball.mp4")
    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copy(video, folder / video.name)
    (folder / "bouncing_ball.json").write_text(json.dumps({"captions": [
        {"start_frame": 0, "end_frame": 10, "caption": "A ball bounces on the floor."},
        {"start_frame": 10, "end_frame": 20, "caption": "The ball rolls and slows down."}]}))
    table = tmp_path / "captions.csv"
    table.write_text('clip_id,caption\nc1:0-5,"Coffee is poured into a mug."\nc2:0-5,"A candle burns."\n')
    params = PhysicsParams(prompts=["A glass falls off a table."], captions=[str(folder), str(table)],
                           catalog=str(catalog_root), shard_size=2)
    refs = physics_context_flow(params).refs
    assert sum(r.rows for r in refs) == 5
    rows = Catalog(catalog_root).query(
        "SELECT clip_id, video_id, source, categories FROM physics_context ORDER BY prompt").to_pylist()
    by_clip = {r["clip_id"]: r for r in rows}
    assert by_clip["c2:0-5"]["categories"] == ["combustion"] and by_clip[None]["source"] == "prompt"
    sidecar = [r for r in rows if r["video_id"] and r["clip_id"] and r["clip_id"].endswith(":0-10")]
    assert sidecar and sidecar[0]["categories"] == ["elastic_motion"]
    state = physics_context_flow(params, return_state=True)
    assert [r.key for r in state.result().refs] == [r.key for r in refs]  # the same artifacts, cached


def test_enrich_prints_the_context(tmp_path):
    cat = str(tmp_path / "cat")
    result = runner.invoke(app, ["--catalog", cat, "enrich", "--json", "a glass falls off a table and shatters"])
    assert result.exit_code == 0, result.output
    row = json.loads(next(line for line in result.output.splitlines() if line.startswith("{")))
    assert row["categories"] == ["collision", "rigid_body_motion", "deformation"] and row["error"] is None
    result = runner.invoke(app, ["--catalog", cat, "enrich", "Honey drips slowly from a wooden spoon."])
    assert result.exit_code == 0 and "liquid_motion" in result.output and "enhanced prompt" in result.output


def test_enrich_bad_run_fails_before_work(tmp_path):
    cat = str(tmp_path / "cat")
    result = runner.invoke(app, ["--catalog", cat, "enrich", "--backend", "openai", "a ball"])
    assert result.exit_code == 2 and "base_url" in result.output
    result = runner.invoke(app, ["--catalog", cat, "enrich", "--backend", "openai", "--model", "m",
                                 "--base-url", "http://127.0.0.1:9/v1", "a ball"])
    assert result.exit_code == 2 and "127.0.0.1:9/v1" in result.output
    result = runner.invoke(app, ["--catalog", cat, "enrich", "--captions", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
