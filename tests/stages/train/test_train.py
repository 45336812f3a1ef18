"""Training set query, each recipe's loss falling on the synthetic ball world, checkpoint round trip, resume."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from physflow.data_catalog import Catalog
from physflow.stages.train.checkpoint import load_checkpoint
from physflow.stages.train.data import DataConfig, TrainDataset, load_snapshot
from physflow.stages.train.loop import LoopConfig
from physflow.stages.train.loop.checkpoints import CHECKPOINTS_DIR, latest_checkpoint
from physflow.stages.train.recipes import DiffPhyConfig, RevisionConfig, VideoJAMConfig, WisaConfig
from physflow.stages.train.recipes.conditions import mix_conditions
from tests.fixtures.train_run import run_training
from tests.fixtures.train_world import build_train_world

pytestmark = pytest.mark.timeout(420)

DATA = DataConfig(frames=4, size=16)
# Each recipe at tiny size: (config, learning rate, steps, bound on mean(last 4) / mean(first 4), frame size).
# The SVD UNet is the costliest on CPU, so its test runs at 8 px (a 4 x 4 latent).
RECIPES = {
    "revision": (RevisionConfig(), 1e-2, 12, 0.95, 8),
    "videojam": (VideoJAMConfig(), 3e-3, 14, 0.85, 16),
    "wisa": (WisaConfig(), 3e-3, 14, 0.85, 16),
    "diffphy": (DiffPhyConfig(judge_steps=8, lora_rank=8), 3e-2, 14, 0.95, 16),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return build_train_world(tmp_path_factory.mktemp("train-world"), n_clips=6, frames=8, size=32)


def test_snapshot_joins_the_four_tables_and_records_their_artifacts(world):
    snap = load_snapshot(world, DataConfig(require_flow=True, require_masks=True, require_context=True))
    assert snap.counts == {"clips": 6, "with_flow": 6, "with_masks": 6, "with_context": 6}
    stages = world.query("SELECT DISTINCT stage FROM current_artifacts WHERE key IN (SELECT unnest(?))",
                         [snap.artifact_keys]).column("stage").to_pylist()
    assert sorted(stages) == ["fixture_clips", "fixture_flows", "fixture_part_masks", "fixture_physics_context"]
    item = TrainDataset(snap, DATA)[0]
    assert item["video"].shape == (3, 4, 16, 16) and item["flow"].shape == (3, 4, 16, 16)
    assert item["video"].min() >= -1 and item["video"].max() <= 1
    assert item["masks"].shape == (4, 16, 16) and item["masks"].max() > 0 and item["mask_conf"].tolist() == [1.0] * 4
    assert item["phenomena"].sum() >= 1 and item["prompt"]


def test_snapshot_of_an_empty_catalog_fails_naming_the_filter(tmp_path):
    with pytest.raises(ValueError, match="training set is empty"):
        load_snapshot(Catalog(tmp_path / "empty"), DataConfig(require_flow=True))


def test_condition_mix_follows_40_30_30():
    masks = torch.zeros(400, 2, 8, 8)
    masks[:, :, 2:5, 2:5] = 1 / 16
    conf = torch.ones(400, 2)
    cond = mix_conditions(masks, conf, (0.4, 0.3, 0.3), np.random.default_rng(0))
    final_conf = cond[:, -1, 1, 0, 0]
    exact, sketch, empty = [(final_conf == v).float().mean().item() for v in (1.0, 0.5, 0.0)]
    assert abs(exact - 0.4) < 0.07 and abs(sketch - 0.3) < 0.07 and abs(empty - 0.3) < 0.07
    sketched = cond[final_conf == 0.5]
    assert sketched[:, 0].abs().sum() == 0 and sketched[:, -1, 0].sum() > 0  # final frame only


@pytest.mark.parametrize("name", list(RECIPES))
def test_recipe_loss_falls_and_checkpoint_round_trips(world, name):
    cfg, lr, steps, bound, size = RECIPES[name]
    data = DATA.model_copy(update={"require_flow": name == "videojam", "size": size})
    snap = load_snapshot(world, data)
    loop = LoopConfig(steps=steps, batch_size=2, lr=lr, save_every=steps, seed=0)
    run_id, result = run_training(world, cfg, data, loop, snap)
    losses = result.losses
    assert len(losses) == steps and all(np.isfinite(losses))
    first, last = np.mean(losses[:4]), np.mean(losses[-4:])
    assert last < bound * first, f"{name}: loss {first:.3f} -> {last:.3f} (bound {bound})"
    (row,) = world.query("SELECT * FROM checkpoints WHERE run_id = ?", [run_id]).to_pylist()
    assert row["step"] == steps and row["recipe"] == name and row["data_snapshot"] == snap.artifact_keys
    assert json.loads(row["metrics"])["step"] == steps and row["weights_sha256"]
    trained = result.saved[-1]
    recipe, _ = load_checkpoint(world, row["checkpoint_id"])
    assert trained[1] == latest_checkpoint(world.root.local_path(CHECKPOINTS_DIR, run_id))[1]
    batch = torch.utils.data.default_collate([TrainDataset(snap, data)[i] for i in range(2)])
    again, _ = load_checkpoint(world, row["checkpoint_id"])
    a = recipe.sample(batch, 2, torch.Generator().manual_seed(0))
    b = again.sample(batch, 2, torch.Generator().manual_seed(0))
    assert a.shape == (2, 3, 4, size, size) and torch.equal(a, b)
    from safetensors.torch import load_file

    saved = load_file(str(trained[1] / "model.safetensors"))
    assert all(torch.equal(saved[k], v) for k, v in recipe.state_dict().items() if k in saved)


def test_killed_run_resumes_where_it_stopped(world):
    data = DATA.model_copy(update={"require_flow": True})
    snap = load_snapshot(world, data)
    loop = LoopConfig(steps=6, batch_size=2, lr=3e-3, save_every=3, seed=1)
    _, straight = run_training(world, VideoJAMConfig(), data, loop, snap, run_id="straight")
    with pytest.raises(KeyboardInterrupt):
        run_training(world, VideoJAMConfig(), data, loop, snap, run_id="killed", interrupt_at=4)
    _, resumed = run_training(world, VideoJAMConfig(), data, loop, snap, run_id="killed")
    assert resumed.resumed_from == 3 and resumed.steps == 6
    assert np.allclose(resumed.losses, straight.losses[3:], rtol=1e-5), (resumed.losses, straight.losses)
    steps = world.query("SELECT step FROM checkpoints WHERE run_id = 'killed' ORDER BY step").column("step").to_pylist()
    assert steps == [3, 6]


def test_ema_and_gradient_checkpointing_options_train_and_save(world):
    snap = load_snapshot(world, DATA)
    loop = LoopConfig(steps=2, batch_size=2, save_every=2, ema=True, ema_decay=0.5, gradient_checkpointing=True)
    run_id, result = run_training(world, WisaConfig(), DATA, loop, snap, run_id="ema-gc")
    assert result.steps == 2 and all(np.isfinite(result.losses))
    folder = result.saved[-1][1]
    assert (folder / "model.safetensors").exists() and any(folder.glob("custom_checkpoint_*.pkl"))
    if importlib.util.find_spec("tensorboard") is not None:  # logs are written only with the `train` extra
        assert (world.root.local_path(CHECKPOINTS_DIR, run_id) / "logs").is_dir()
