"""Each recipe trained from a saved tiny diffusers pipeline folder named `video-base` in the weights registry, in
the base's own parametrisation: the loss on fixed noise falls, the checkpoint row records the base folder and
loads back without reading the environment."""

from __future__ import annotations

import json

import pytest
import torch

from physflow.flows.train import TrainParams, stage_config, train_and_register
from physflow.models.registry import WeightsRegistry
from physflow.stages.train.checkpoint import load_checkpoint
from physflow.stages.train.data import TrainDataset, load_snapshot
from physflow.stages.train.recipes import build_recipe
from tests.fixtures.bases import svd_folder, wan_folder, weights_toml  # noqa: F401  (fixtures)
from tests.fixtures.train_world import build_train_world

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # four recipes trained end to end: minutes on CPU

# recipe -> (base fixture, frames (Wan's VAE takes 1 + 4k), steps, learning rate)
RECIPES = {
    "videojam": ("wan_folder", 5, 10, 3e-3),
    "wisa": ("wan_folder", 5, 10, 3e-3),
    "diffphy": ("wan_folder", 5, 10, 3e-2),
    "revision": ("svd_folder", 4, 10, 3e-3),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    return build_train_world(tmp_path_factory.mktemp("base-world"), n_clips=2, frames=8, size=16)


def _fixed_noise_loss(recipe, batch) -> float:
    """Mean loss over four fixed noise draws (training draws fresh noise every step)."""
    values = []
    with torch.no_grad():
        for seed in range(4):
            torch.manual_seed(seed)
            values.append(float(recipe.loss(batch)[0]))
    return sum(values) / len(values)


@pytest.mark.parametrize("name", list(RECIPES))
def test_recipe_trains_from_a_registered_pipeline_folder(world, tmp_path, request, name):
    fixture, frames, steps, lr = RECIPES[name]
    folder = request.getfixturevalue(fixture)
    extra = {"judge_steps": 4} if name == "diffphy" else {}
    params = TrainParams.model_validate({
        "catalog": str(world.root.uri), "recipe": {"recipe": name, "base": "video-base", **extra},
        "data": {"frames": frames, "size": 16}, "weights_config": str(weights_toml(folder, tmp_path)),
        "loop": {"steps": steps, "batch_size": 2, "lr": lr, "save_every": steps, "seed": 0},
    })
    config = stage_config(params, WeightsRegistry.load(params.weights_config))
    assert config.base_folder == str(folder)
    snapshot = load_snapshot(world, config.data)
    batch = torch.utils.data.default_collate([TrainDataset(snapshot, config.data)[i] for i in range(2)])
    before = _fixed_noise_loss(build_recipe(config.recipe, config.data, folder, seed=0), batch)
    stage, ids = train_and_register(world, config, snapshot)
    (row,) = world.query("SELECT * FROM checkpoints WHERE checkpoint_id = ?", [ids[-1]]).to_pylist()
    assert json.loads(row["config"])["base_folder"] == str(folder) and row["base"] == "video-base"
    recipe, _ = load_checkpoint(world, ids[-1])
    after = _fixed_noise_loss(recipe, batch)
    print(f"{name} from {folder.name}: fixed-noise loss {before:.4f} -> {after:.4f} after {steps} steps; "
          f"training loss {stage.result.losses[0]:.4f} -> {stage.result.losses[-1]:.4f}")
    assert after < before


def test_a_base_of_the_wrong_pipeline_class_fails_before_work(wan_folder):  # noqa: F811
    from physflow.stages.train.data import DataConfig
    from physflow.stages.train.recipes import RevisionConfig

    with pytest.raises(ValueError, match="holds a WanPipeline; this recipe trains a StableVideoDiffusionPipeline"):
        build_recipe(RevisionConfig(base="video-base"), DataConfig(frames=4, size=16), wan_folder)


def test_a_second_run_on_the_same_captions_encodes_no_prompt(tmp_path, wan_folder):  # noqa: F811
    from physflow.stages.train import TrainConfig

    world = build_train_world(tmp_path / "world", n_clips=2, frames=8, size=16)  # its own, empty embedding store
    captions = {r["prompt"] or "" for r in load_snapshot(world, TrainConfig().data.model_copy(
        update={"frames": 5, "size": 16})).rows} | {""}
    counts = []
    for run_id in ("captions-a", "captions-b"):
        config = TrainConfig.model_validate({
            "recipe": {"recipe": "videojam", "base": "video-base"}, "data": {"frames": 5, "size": 16},
            "loop": {"steps": 1, "batch_size": 2, "save_every": 1}, "run_id": run_id, "base_folder": str(wan_folder),
        }).with_data_needs()
        stage, _ = train_and_register(world, config, load_snapshot(world, config.data))
        counts.append((stage.result.metrics["text_encoded"], stage.result.metrics["text_loaded"]))
    print(f"prompt embeddings: first run encoded {counts[0][0]}, loaded {counts[0][1]}; "
          f"second run encoded {counts[1][0]}, loaded {counts[1][1]}")
    assert counts == [(len(captions), 0), (0, len(captions))]
    rows = world.query("SELECT text FROM text_embeddings").to_pylist()  # registered once, read back by run b
    assert sorted(r["text"] for r in rows) == sorted(captions)
