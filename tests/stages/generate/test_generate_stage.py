"""The generate stage end to end on tiny random checkpoints (CPU): three phases, valid videos, rows."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from physflow.data_catalog.blobs import BlobStore, is_ref
from physflow.data_catalog.storage import Root
from physflow.stages.common.prior.optimise import PriorResult
from physflow.stages.common.video_io import probe
from physflow.stages.generate.config import GenerateConfig
from physflow.stages.generate.generator import Condition, JointGenerator, RevisionGenerator
from physflow.stages.generate.pipeline import GenerationPipeline
from physflow.stages.generate.prior.phase import PhaseTwo
from physflow.stages.generate.stage import GenerateItem, GenerateStage

pytestmark = pytest.mark.timeout(300)

TINY = {"frames": 8, "width": 32, "height": 32, "steps": 2,
        "learned_prior": {"sequences": 4, "steps": 20}, "prior": {"steps": 60}}


def _item(first_frame, root, seed=0, **kw) -> GenerateItem:
    return GenerateItem(prompt="a red ball is thrown", image_path=str(first_frame), image_sha256="ab" * 32,
                        blob_root=str(root), seed=seed, **kw)


@pytest.mark.parametrize("checkpoint", ["tiny-revision", "tiny-videojam"])
def test_three_phases_give_videos_and_rows(first_frame, tmp_path, checkpoint) -> None:
    stage = GenerateStage(GenerateConfig(checkpoint=checkpoint, **TINY))
    table = stage.run([_item(first_frame, tmp_path)])
    rows = table.to_pylist()
    assert [r["stage"] for r in rows] == ["coarse", "prior", "refined"] and [r["phase"] for r in rows] == [1, 2, 3]
    assert all(r["error"] is None for r in rows)
    assert len({r["generation_id"] for r in rows}) == 1 and len({r["preview_uri"] for r in rows}) == 1
    blobs = BlobStore(Root(tmp_path))
    assert all(is_ref(r["video_uri"]) and is_ref(r["preview_uri"]) for r in rows)  # catalog-relative references
    for row in rows:
        info = probe(blobs.resolve(row["video_uri"]))
        assert info.error is None and info.n_frames == 8 and (info.width, info.height) == (32, 32)
        assert row["seconds"] > 0
        assert json.loads(row["metrics"])
    preview = probe(blobs.resolve(rows[0]["preview_uri"]))
    assert preview.n_frames == 8 and preview.width == 3 * 32 + 2 * 2
    coarse, prior, refined = (json.loads(r["metrics"]) for r in rows)
    assert coarse["frames"] == refined["frames"] == 8 and "flicker" in coarse
    assert "objects" in prior
    labels = np.load(io.BytesIO(blobs.read_bytes(rows[1]["mask_uri"])))["labels"]
    assert labels.shape == (8, 32, 32) and labels.dtype == np.uint8
    assert rows[1]["confidence"] == (1.0 if prior["objects"] else 0.0)


def test_same_seed_same_videos_other_seed_other_videos(first_frame, tmp_path) -> None:
    stage = GenerateStage(GenerateConfig(**TINY))
    a, b, c = (stage.run([_item(first_frame, tmp_path, seed=s)]).to_pylist() for s in (1, 1, 2))
    assert [r["video_sha256"] for r in a] == [r["video_sha256"] for r in b]
    assert a[0]["generation_id"] == b[0]["generation_id"] != c[0]["generation_id"]
    assert a[0]["video_sha256"] != c[0]["video_sha256"]


def test_bad_request_is_an_error_row(tmp_path) -> None:
    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    rows = GenerateStage(GenerateConfig(**TINY)).run([_item(bad, tmp_path)]).to_pylist()
    assert len(rows) == 1 and rows[0]["stage"] == "failed" and "not a readable image" in rows[0]["error"]


def test_config_fails_naming_the_bad_value() -> None:
    with pytest.raises(ValidationError, match="no-such-model"):
        GenerateConfig(checkpoint="no-such-model")
    with pytest.raises(ValidationError, match="width"):
        GenerateConfig(width=30)


def _phase_two(frames: int, size: int) -> PhaseTwo:
    labels = np.zeros((frames, size, size), np.uint8)
    positions = np.zeros((frames, 1, 3))
    positions[:, 0, 0] = np.linspace(-0.5, 0.5, frames)
    positions[:, 0, 1] = 1.0
    for t in range(frames):
        labels[t, 10:16, 4 + 2 * t : 10 + 2 * t] = 64
    return PhaseTwo(labels, 1.0, 64, PriorResult(positions))


def test_masks_reach_the_revision_unet_only_through_its_mask_channels() -> None:
    gen = RevisionGenerator.tiny(4)
    config = GenerateConfig(frames=4, width=32, height=32, steps=2)
    pipe = GenerationPipeline(gen, config)
    cond = pipe._mask_condition(_phase_two(4, 32))
    first = torch.zeros(1, 3, 32, 32)

    def sample(c: Condition) -> torch.Tensor:
        return gen.sample(first, ["x"], c, frames=4, steps=2, guidance=config.guidance,
                          generator=torch.Generator().manual_seed(0))

    assert torch.equal(sample(cond), sample(Condition()))  # zero-initialised mask channels: no effect yet
    with torch.no_grad():
        gen.model.unet.conv_in.weight[:, -2:] = 0.5  # as after training: the channels carry weight
    assert not torch.equal(sample(cond), sample(Condition()))


def test_joint_model_refines_with_the_optimised_motion_as_flow() -> None:
    gen = JointGenerator.tiny()
    config = GenerateConfig(checkpoint="tiny-videojam", frames=4, width=32, height=32, steps=2)
    cond = GenerationPipeline(gen, config)._mask_condition(_phase_two(4, 32))
    assert cond.flow_rgb is not None and cond.flow_rgb.shape == (1, 3, 4, 32, 32)
    assert cond.flow_rgb.abs().max() <= 1.0 and cond.flow_rgb.std() > 0
    first = torch.zeros(1, 3, 32, 32)
    with torch.no_grad():
        gen.model.dit.patch_embedding.weight[:, gen.model.appearance_channels:] = 0.05  # flow input in use
    outs = [gen.sample(first, ["x"], c, frames=4, steps=2, guidance=config.guidance,
                       generator=torch.Generator().manual_seed(0)) for c in (cond, Condition())]
    assert outs[0].shape == (1, 3, 4, 32, 32)
    assert not torch.equal(outs[0], outs[1])


def test_prompt_goes_through_the_physics_context_stage(first_frame, tmp_path) -> None:
    pytest.importorskip("physflow.stages.physics_context", reason="the physics context stage is not installed")
    item = GenerateItem(prompt="a red ball falls and bounces on the floor", image_path=str(first_frame),
                        image_sha256="ab" * 32, blob_root=str(tmp_path))
    rows = GenerateStage(GenerateConfig(**TINY)).run([item]).to_pylist()
    assert all(r["error"] is None for r in rows)
    enhanced, prompt = rows[0]["enhanced_prompt"], rows[0]["prompt"]
    assert enhanced.lower().startswith(prompt.lower()) and len(enhanced) > len(prompt)
    assert rows[0]["categories"] and rows[0]["categories"] == rows[2]["categories"]
    off = GenerateStage(GenerateConfig(physics_context=False, **TINY)).run([item]).to_pylist()
    assert off[0]["enhanced_prompt"] is None and off[0]["generation_id"] != rows[0]["generation_id"]
