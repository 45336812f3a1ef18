"""Checkpoints with extra inputs, trained from tiny pipeline folders and exported with `physflow export`: ReVision
with mask channels loads as ReVisionSVDPipeline, VideoJAM with flow as VideoJAMWanPipeline; each generates what
physflow's own sampler of the checkpoint does; and `physflow generate --checkpoint OUT_DIR` samples the folder."""

from __future__ import annotations

import json
import os

import pytest
import torch
from typer.testing import CliRunner

from physflow.data_catalog import Catalog
from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.storage import Root
from physflow.flows.cli import app
from physflow.models.physflow_pipelines import ReVisionSVDPipeline, VideoJAMWanPipeline
from physflow.stages.common.video_io import probe
from physflow.stages.generate.config import GenerateConfig, GuidanceConfig
from physflow.stages.generate.generator import Condition, JointGenerator, build_generator
from physflow.stages.generate.stage import GenerateItem, generation_id
from physflow.stages.train import TrainConfig
from physflow.stages.train.checkpoint import load_checkpoint
from physflow.stages.train.data import load_snapshot
from tests.fixtures.bases import svd_folder, wan_folder  # noqa: F401  (fixtures)
from tests.fixtures.train_run import run_training
from tests.fixtures.train_world import build_train_world
from tests.stages.generate import conftest as generate_fixtures

pytestmark = pytest.mark.timeout(600)
TOLERANCE = 1e-4  # same modules and noise; only the order of float operations differs (tests/models/test_*_parity.py)
first_frame = generate_fixtures.first_frame


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    return build_train_world(tmp_path_factory.mktemp("export-subclass-world"), n_clips=2, frames=8, size=16)


def _train_and_export(world, folder, tmp_path_factory, recipe: str, *, frames: int, steps: int):
    """(checkpoint_id, exported folder) of a `steps`-step run of `recipe` from the pipeline folder `folder`."""
    out = tmp_path_factory.mktemp(f"{recipe}-export") / recipe
    cfg = TrainConfig.model_validate({"recipe": {"base": "video-base", "recipe": recipe}, "data": {"frames": frames, "size": 16},
                                      "loop": {"steps": steps, "batch_size": 2, "lr": 3e-2, "save_every": steps},
                                      "base_folder": str(folder)})
    run_id, _ = run_training(world, cfg.recipe, cfg.data, cfg.loop, load_snapshot(world, cfg.data),
                             base_folder=str(folder))
    checkpoint = f"{run_id}:{steps}"
    result = CliRunner().invoke(app, ["--catalog", str(world.root.uri), "export", checkpoint, str(out)])
    assert result.exit_code == 0, result.output
    return checkpoint, out


@pytest.fixture(scope="module")
def revision_export(world, svd_folder, tmp_path_factory):  # noqa: F811
    return _train_and_export(world, svd_folder, tmp_path_factory, "revision", frames=4, steps=1)  # mask channels


def test_revision_with_masks_exports_a_revision_pipeline(world, revision_export):
    checkpoint, folder = revision_export
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "ReVisionSVDPipeline" and (folder / ReVisionSVDPipeline.module_file).exists()
    pipe = ReVisionSVDPipeline.from_pretrained(str(folder), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    labels = torch.zeros(1, 4, 16, 16)
    labels[:, :, 4:10, 3:9] = 3.0  # one part, moving nowhere: exact masks on every frame
    call = {"height": 16, "width": 16, "num_frames": 4, "num_inference_steps": 2, "output_type": "pt"}
    stock = pipe(image, generator=torch.Generator().manual_seed(0), masks=labels, mask_confidence=1.0, **call).frames
    no_masks = pipe(image, generator=torch.Generator().manual_seed(0), **call).frames
    recipe, _ = load_checkpoint(world, checkpoint)
    batch = {"video": (image * 2 - 1)[:, :, None].expand(-1, -1, 4, -1, -1), "prompt": [""],
             "masks": labels / recipe.data.max_parts, "mask_conf": torch.ones(1, 4)}
    ours = recipe.sample(batch, 2, torch.Generator().manual_seed(0))
    diff = float(((ours / 2 + 0.5).clamp(0, 1).permute(0, 2, 1, 3, 4) - stock).abs().max())
    effect = float((stock - no_masks).abs().max())
    print(f"ReVision export: max |ReVisionSVDPipeline - physflow EDM sampler| = {diff:.3g}; masks move the video "
          f"by {effect:.3g}")
    assert diff < TOLERANCE and effect > 10 * TOLERANCE  # trained mask weights: the masks reach the UNet


def _generate_cli(cat: str, image, checkpoint: str, frames: int) -> list[dict]:
    """`physflow generate --checkpoint CHECKPOINT` at 16 px, 2 steps; the generations rows it wrote."""
    result = CliRunner().invoke(app, [
        "--catalog", cat, "generate", "--prompt", "a ball falls", "--image", str(image), "--checkpoint", checkpoint,
        "--frames", str(frames), "--width", "16", "--height", "16", "--steps", "2", "--no-annotate"])
    assert result.exit_code == 0, result.output
    rows = Catalog(cat).query("SELECT stage, checkpoint_id, video_uri, error FROM generations WHERE checkpoint_id = ? "
                              "ORDER BY phase", [checkpoint]).to_pylist()
    assert [r["stage"] for r in rows] == ["coarse", "prior", "refined"] and all(r["error"] is None for r in rows)
    return rows


@pytest.mark.usefixtures("prefect_api")
def test_generate_cli_samples_exported_folders(revision_export, videojam_export, tmp_path, first_frame, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cat = str(tmp_path / "cat")
    _generate_cli(cat, first_frame, str(revision_export[1].resolve()), 4)
    rows = _generate_cli(cat, first_frame, str(videojam_export[1].resolve()), 6)  # Wan VAE: 3 latents, 9 frames cut to 6
    assert probe(BlobStore(Root(cat)).resolve(rows[2]["video_uri"])).n_frames == 6
    item = GenerateItem(prompt="a ball falls", image_path=str(first_frame), image_sha256="0" * 64, blob_root=cat)
    config = GenerateConfig(checkpoint=str(revision_export[1]))
    before = generation_id(item, config)
    weights = next((revision_export[1] / "unet").glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1_000_000_000))
    assert generation_id(item, config) != before  # a re-export in place is a new model: no stale cache hit
    missing = CliRunner().invoke(app, ["--catalog", cat, "generate", "--prompt", "x", "--image", str(first_frame),
                                       "--checkpoint", str(tmp_path / "nowhere")])
    assert missing.exit_code != 0 and "pipeline folder" in missing.output


@pytest.mark.usefixtures("prefect_api")
def test_generate_cli_samples_an_svd_revision_checkpoint(world, revision_export, tmp_path, first_frame, monkeypatch):
    """The SVD-based ReVision checkpoint itself, by id from its catalog: SVD's EDM sampler in all three phases."""
    monkeypatch.chdir(tmp_path)
    rows = _generate_cli(str(world.root.uri), first_frame, revision_export[0], 4)
    assert probe(BlobStore(Root(str(world.root.uri))).resolve(rows[2]["video_uri"])).n_frames == 4


@pytest.fixture(scope="module")
def videojam_export(world, wan_folder, tmp_path_factory):  # noqa: F811
    return _train_and_export(world, wan_folder, tmp_path_factory, "videojam", frames=5, steps=2)  # flow channels


def test_videojam_with_flow_exports_a_videojam_pipeline(world, videojam_export):
    checkpoint, folder = videojam_export
    pipe = VideoJAMWanPipeline.from_pretrained(str(folder), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    recipe, _ = load_checkpoint(world, checkpoint)
    out = pipe("a ball rolls", negative_prompt="", height=16, width=16, num_frames=5, num_inference_steps=2,
               guidance_scale=1 + recipe.guidance.w1, motion_guidance_scale=recipe.guidance.w2,
               generator=torch.Generator().manual_seed(0), output_type="pt")
    ours = recipe.sample({"prompt": ["a ball rolls"], "video": torch.zeros(1, 3, 5, 16, 16)}, 2,
                         torch.Generator().manual_seed(0))
    diff = float(((ours / 2 + 0.5).clamp(0, 1).permute(0, 2, 1, 3, 4) - out.frames).abs().max())
    print(f"VideoJAM export: max |VideoJAMWanPipeline - physflow Inner-Guidance sampler| = {diff:.3g}")
    assert diff < TOLERANCE and out.flow.shape == out.frames.shape and float(out.flow.std()) > 0
    generator = build_generator(str(folder), 5)  # generate's view of the same folder
    assert isinstance(generator, JointGenerator) and generator.model.flow_channels == 16
    video = generator.sample(torch.rand(1, 3, 16, 16) * 2 - 1, ["a ball rolls"], Condition(), frames=5, steps=2,
                             guidance=GuidanceConfig(), generator=torch.Generator().manual_seed(0))
    assert video.shape == (1, 3, 5, 16, 16) and torch.isfinite(video).all()
