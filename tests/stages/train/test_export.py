"""Checkpoints trained from a tiny Wan pipeline folder, exported as diffusers folders: the stock WanPipeline loads
them with from_pretrained (and load_lora_weights for a LoRA run) and generates what physflow's sampler does."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from physflow.stages.train import TrainConfig
from physflow.stages.train.checkpoint import load_checkpoint
from physflow.stages.train.data import load_snapshot
from physflow.stages.train.export import EXTRAS_FILE, LORA_FILE, export_checkpoint
from tests.fixtures.bases import svd_folder, wan_folder  # noqa: F401  (fixtures)
from tests.fixtures.train_run import run_training
from tests.fixtures.train_world import build_train_world

pytestmark = pytest.mark.timeout(600)
PROMPT = "a ball rolls"
TOLERANCE = 1e-4  # same modules and noise; only the order of float operations differs (see test_wan_parity.py)
CALL = {"negative_prompt": "", "height": 16, "width": 16, "num_frames": 5, "num_inference_steps": 2}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    return build_train_world(tmp_path_factory.mktemp("export-world"), n_clips=2, frames=8, size=16)


def _train(world, folder, recipe: dict) -> str:
    cfg = TrainConfig.model_validate({"recipe": {"base": "video-base", **recipe}, "data": {"frames": 5, "size": 16},
                                      "loop": {"steps": 2, "batch_size": 2, "lr": 3e-2, "save_every": 2},
                                      "base_folder": str(folder)})
    run_id, _ = run_training(world, cfg.recipe, cfg.data, cfg.loop, load_snapshot(world, cfg.data),
                             base_folder=str(folder))
    return f"{run_id}:2"


def _stock(folder, guidance: float, lora: bool = False) -> torch.Tensor:
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(str(folder), local_files_only=True)
    if lora:
        pipe.load_lora_weights(str(folder))
    pipe.set_progress_bar_config(disable=True)
    return pipe(PROMPT, guidance_scale=guidance, generator=torch.Generator().manual_seed(0), output_type="pt",
                **CALL).frames


def _ours(world, checkpoint_id: str) -> tuple[torch.Tensor, float]:
    recipe, _ = load_checkpoint(world, checkpoint_id)
    video = recipe.sample({"prompt": [PROMPT], "video": torch.zeros(1, 3, 5, 16, 16)}, 2, torch.Generator().manual_seed(0))
    return (video / 2 + 0.5).clamp(0, 1).permute(0, 2, 1, 3, 4), 1 + recipe.guidance.w1


def test_lora_run_exports_for_load_lora_weights_and_merged(world, wan_folder, tmp_path):  # noqa: F811
    checkpoint = _train(world, wan_folder, {"recipe": "diffphy", "judge_steps": 0})
    ours, guidance = _ours(world, checkpoint)
    from physflow.flows.cli import app

    result = CliRunner().invoke(app, ["--catalog", str(world.root.uri), "export", checkpoint, str(tmp_path / "lora")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lora" / "model_index.json").exists() and (tmp_path / "lora" / LORA_FILE).exists()
    lora = _stock(tmp_path / "lora", guidance, lora=True)
    export_checkpoint(world, checkpoint, tmp_path / "merged", merge=True)
    merged = _stock(tmp_path / "merged", guidance)
    base = _stock(wan_folder, guidance)
    d_lora, d_merged = float((lora - ours).abs().max()), float((merged - ours).abs().max())
    print(f"diffphy export: max |stock + LoRA - physflow| = {d_lora:.3g}, merged {d_merged:.3g}, "
          f"base without LoRA differs by {float((base - ours).abs().max()):.3g}")
    assert d_lora < TOLERANCE and d_merged < TOLERANCE
    assert float((base - ours).abs().max()) > 10 * TOLERANCE  # the LoRA changed the model: the check has teeth


def test_full_finetune_exports_the_trained_transformer(world, wan_folder, tmp_path):  # noqa: F811
    checkpoint = _train(world, wan_folder, {"recipe": "wisa"})
    written = export_checkpoint(world, checkpoint, tmp_path / "wisa")
    assert written["kind"] == "full" and (tmp_path / "wisa" / EXTRAS_FILE).exists()
    video = _stock(tmp_path / "wisa", 4.0)  # without WISA's physics tokens: the stock pipeline has no input for them
    assert video.shape == (1, 5, 3, 16, 16) and torch.isfinite(video).all() and float(video.std()) > 0
    from diffusers import WanTransformer3DModel

    exported = WanTransformer3DModel.from_pretrained(str(tmp_path / "wisa" / "transformer"), local_files_only=True)
    trained, _ = load_checkpoint(world, checkpoint)
    assert all(torch.equal(a, b) for a, b in zip(exported.state_dict().values(),
                                                 trained.model.dit.state_dict().values(), strict=True))


def test_tiny_base_checkpoints_are_refused_naming_why(world):
    cfg = TrainConfig.model_validate({"recipe": {"recipe": "wisa"}, "data": {"frames": 4, "size": 16},
                                      "loop": {"steps": 1, "save_every": 1}})
    run_id, _ = run_training(world, cfg.recipe, cfg.data, cfg.loop, load_snapshot(world, cfg.data))
    with pytest.raises(ValueError, match="tiny base"):
        export_checkpoint(world, f"{run_id}:1", world.root.local_path("nowhere"))


def test_revision_without_masks_exports_an_svd_pipeline_that_samples_like_physflow(world, svd_folder, tmp_path):  # noqa: F811
    from diffusers import StableVideoDiffusionPipeline

    cfg = TrainConfig.model_validate({"recipe": {"recipe": "revision", "base": "video-base", "use_masks": False},
                                      "data": {"frames": 4, "size": 16}, "base_folder": str(svd_folder),
                                      "loop": {"steps": 1, "batch_size": 1, "lr": 1e-2, "save_every": 1}})
    run_id, _ = run_training(world, cfg.recipe, cfg.data, cfg.loop, load_snapshot(world, cfg.data),
                             base_folder=str(svd_folder))
    export_checkpoint(world, f"{run_id}:1", tmp_path / "svd")
    pipe = StableVideoDiffusionPipeline.from_pretrained(str(tmp_path / "svd"), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    stock = pipe(image, height=16, width=16, num_frames=4, num_inference_steps=2,
                 generator=torch.Generator().manual_seed(0), output_type="pt").frames
    recipe, _ = load_checkpoint(world, f"{run_id}:1")
    video = (image * 2 - 1)[:, :, None].expand(-1, -1, 4, -1, -1)
    ours = recipe.sample({"video": video, "prompt": [""]}, 2, torch.Generator().manual_seed(0))
    diff = float(((ours / 2 + 0.5).clamp(0, 1).permute(0, 2, 1, 3, 4) - stock).abs().max())
    print(f"revision export: max |stock SVD pipeline - physflow| = {diff:.3g}")
    assert diff < TOLERANCE
