"""The generate stage's generators built from recipes trained on pretrained pipeline folders: a Wan-based VideoJAM
samples on its scheduler's sigmas with UMT5 embeddings; an SVD-based ReVision is refused naming why."""

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
    video = generator.sample(first, ["a ball falls"], Condition(), frames=2, steps=2, guidance=GuidanceConfig(),
                             generator=torch.Generator().manual_seed(0))
    assert video.shape == (1, 3, 5, 16, 16) and torch.isfinite(video).all()


def test_svd_based_revision_is_refused_naming_the_sampler(svd_folder):  # noqa: F811
    recipe = build_recipe(RevisionConfig(base="video-base"), DataConfig(frames=4, size=16), svd_folder)
    with pytest.raises(ValueError, match="EDM sampler"):
        RevisionGenerator.from_recipe(recipe)
