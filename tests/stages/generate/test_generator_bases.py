"""The generate stage's generators built from recipes trained on pretrained pipeline folders: a Wan-based VideoJAM
samples on its scheduler's sigmas with UMT5 embeddings; an SVD-based ReVision samples with the recipe's EDM sampler."""

from __future__ import annotations

import pytest
import torch

from physflow.models.wan_base import scheduler_sigmas
from physflow.stages.generate.config import GuidanceConfig
from physflow.stages.generate.generator import Condition, JointGenerator, RevisionGenerator
from physflow.stages.train.data import DataConfig
from physflow.stages.train.recipes import RevisionConfig, VideoJAMConfig, build_recipe
from tests.fixtures.bases import svd_folder, wan_folder  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(300)


def test_wan_based_videojam_generates_on_its_scheduler(wan_folder):  # noqa: F811
    recipe = build_recipe(VideoJAMConfig(base="video-base"), DataConfig(frames=5, size=16), wan_folder).eval()
    generator = JointGenerator.from_recipe(recipe)
    assert torch.equal(generator.sigmas(3), scheduler_sigmas(wan_folder, 3))
    first = torch.rand(1, 3, 16, 16) * 2 - 1
    # Wan's VAE decodes 1 + 4 (n - 1) frames from n latents: 7 frames take 3 latents (9 frames, 2 cut off), and a
    # 7-frame target flow is padded to 9 before encoding.
    flow = torch.rand(1, 3, 7, 16, 16) * 2 - 1
    video = generator.sample(first, ["a ball falls"], Condition(flow_rgb=flow), frames=7, steps=2,
                             guidance=GuidanceConfig(), generator=torch.Generator().manual_seed(0))
    assert video.shape == (1, 3, 7, 16, 16) and torch.isfinite(video).all()


def test_svd_based_revision_samples_with_the_recipes_edm_sampler(svd_folder):  # noqa: F811
    from physflow.stages.generate.pretrained import SvdRevisionGenerator

    recipe = build_recipe(RevisionConfig(base="video-base"), DataConfig(frames=4, size=16), svd_folder).eval()
    with torch.no_grad():  # trained-like mask weights, so the masks matter
        recipe.model.unet.conv_in.weight[:, -2:] = 0.3
    generator = RevisionGenerator.from_recipe(recipe)
    assert isinstance(generator, SvdRevisionGenerator) and generator.with_masks
    first = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2)) * 2 - 1
    labels = torch.zeros(1, 4, 16, 16)
    labels[:, :, 5:11, 4:10] = 2.0
    cond = Condition(labels=labels, confidence=torch.ones(1, 4))
    video = generator.sample(first, ["ignored: SVD has no text input"], cond, frames=4, steps=2,
                             guidance=GuidanceConfig(), generator=torch.Generator().manual_seed(0))
    batch = {"video": first[:, :, None].expand(-1, -1, 4, -1, -1), "prompt": [""],
             "masks": labels / recipe.data.max_parts, "mask_conf": torch.ones(1, 4)}
    ours = recipe.sample(batch, 2, torch.Generator().manual_seed(0))
    empty = generator.sample(first, [""], Condition(), frames=4, steps=2, guidance=GuidanceConfig(),
                             generator=torch.Generator().manual_seed(0))
    diff, effect = float((video - ours).abs().max()), float((video - empty).abs().max())
    print(f"generate's SVD path vs the recipe's EDM sampler: max diff {diff:.3g}; the masks move it by {effect:.3g}")
    assert video.shape == (1, 3, 4, 16, 16) and diff < 1e-5 and effect > 1e-3
