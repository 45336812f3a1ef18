"""The train-model flow through Prefect and the `physflow train` command."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from physflow.data_catalog import Catalog
from physflow.flows.train import TrainParams, train_flow
from physflow.models.registry import MissingWeightsError
from tests.fixtures.train_world import build_train_world

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def world_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("train-flow-world")
    build_train_world(root, n_clips=4, frames=6, size=32)
    return str(root)


def test_flow_trains_and_registers_checkpoints(world_root):
    params = TrainParams.model_validate({
        "catalog": world_root, "recipe": {"recipe": "wisa"}, "data": {"frames": 4, "size": 16},
        "loop": {"steps": 4, "save_every": 2, "batch_size": 2},
    })
    summary = train_flow(params)
    assert summary.steps == 4 and len(summary.checkpoint_ids) == 2 and summary.snapshot["clips"] == 4
    rows = Catalog(world_root).query("SELECT step, recipe FROM checkpoints WHERE run_id = ? ORDER BY step",
                                     [summary.run_id]).to_pylist()
    assert rows == [{"step": 2, "recipe": "wisa"}, {"step": 4, "recipe": "wisa"}]
    again = train_flow(params)  # same settings and data: the run is complete, nothing retrains
    assert again.run_id == summary.run_id and again.resumed_from == 4 and again.steps == 4


def test_params_reject_unknown_recipe_and_bad_values():
    with pytest.raises(ValidationError, match="sora"):
        TrainParams.model_validate({"recipe": {"recipe": "sora"}})
    with pytest.raises(ValidationError, match="mask_mix"):
        TrainParams.model_validate({"recipe": {"recipe": "revision", "mask_mix": [0.5, 0.5, 0.5]}})


def test_missing_video_base_fails_before_work(world_root, tmp_path):
    toml = tmp_path / "physflow.toml"
    toml.write_text('[weights]\nvideo-base = "nowhere/video-base"\n')
    params = TrainParams(catalog=world_root, recipe={"recipe": "videojam", "base": "video-base"},
                         weights_config=str(toml))
    with pytest.raises(MissingWeightsError, match="video-base"):
        train_flow(params)


def test_cli_train_with_a_toml_config(world_root, tmp_path):
    from physflow.flows.cli import app

    toml = tmp_path / "train.toml"
    toml.write_text('[recipe]\nrecipe = "videojam"\n\n[data]\nframes = 4\nsize = 16\n\n[loop]\nsteps = 2\nsave_every = 2\n')
    result = CliRunner().invoke(app, ["--catalog", world_root, "train", "--config", str(toml), "--run-id", "cli-run"])
    assert result.exit_code == 0, result.output
    assert "cli-run: 2 steps" in result.output
    bad = CliRunner().invoke(app, ["--catalog", world_root, "train", "--recipe", "sora"])
    assert bad.exit_code == 2 and "sora" in bad.output
