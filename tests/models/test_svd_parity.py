"""A Stable Video Diffusion pipeline folder as ReVision's base: with the mask channels zero-initialised, the
recipe's EDM sampler gives StableVideoDiffusionPipeline.__call__'s video for the same image, seed and steps;
and the recipe trains with SVD's EDM objective."""

from __future__ import annotations

import pytest
import torch

from physflow.models.svd_base import build_tiny_svd_pipeline, edm_scalings
from physflow.stages.train.data import DataConfig
from physflow.stages.train.recipes import RevisionConfig, build_recipe

pytestmark = pytest.mark.timeout(400)

# Tolerance: same float32 modules and noise on both sides; the pipeline runs cond and uncond as one batch of 2,
# physflow as two calls (different reduction order in the kernels), and the mask channels add exact zeros.
TOLERANCE = 1e-4
SIZE, FRAMES = 16, 4


@pytest.fixture(scope="module")
def svd_folder(tmp_path_factory: pytest.TempPathFactory):
    return build_tiny_svd_pipeline(tmp_path_factory.mktemp("svd") / "svd-tiny", frames=FRAMES)


def _batch(image01: torch.Tensor) -> dict:
    video = (image01 * 2 - 1)[:, :, None].expand(-1, -1, FRAMES, -1, -1).contiguous()
    return {"video": video, "prompt": [""], "masks": torch.zeros(1, FRAMES, SIZE, SIZE), "mask_conf": torch.zeros(1, FRAMES)}


def test_revision_sampler_reproduces_svd_pipeline(svd_folder):
    from diffusers import StableVideoDiffusionPipeline

    pipe = StableVideoDiffusionPipeline.from_pretrained(str(svd_folder), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    image = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    ref = pipe(image, height=SIZE, width=SIZE, num_frames=FRAMES, num_inference_steps=2,
               generator=torch.Generator().manual_seed(3), output_type="pt").frames  # [1, F, 3, H, W] in [0, 1]
    recipe = build_recipe(RevisionConfig(base="video-base"), DataConfig(frames=FRAMES, size=SIZE), svd_folder).eval()
    assert recipe.model.unet.conv_in.in_channels == 4 + 4 + 2  # noisy + first-frame latents + mask, confidence
    ours = recipe.sample(_batch(image), 2, torch.Generator().manual_seed(3))
    ours = (ours / 2 + 0.5).clamp(0, 1).permute(0, 2, 1, 3, 4)
    diff = float((ours - ref).abs().max())
    print(f"svd parity: max |physflow - StableVideoDiffusionPipeline| = {diff:.3g} (video in [0, 1]; tolerance {TOLERANCE})")
    assert ours.shape == ref.shape and float(ref.std()) > 1e-3
    assert diff < TOLERANCE


def test_edm_scalings_are_v_prediction_with_unit_sigma_data():
    sigma = torch.tensor([0.5, 2.0])
    c_skip, c_out, c_in, c_noise = edm_scalings(sigma)
    x0, n = torch.tensor([0.3, -1.2]), torch.tensor([1.0, 0.4])
    x = x0 + sigma * n
    v = (x0 - c_skip * x) / c_out  # the regression target: x_0 is recovered exactly from it
    assert torch.allclose(c_skip * x + c_out * v, x0) and torch.allclose(c_noise, 0.25 * sigma.log())
    assert torch.allclose(c_in, (sigma**2 + 1).rsqrt())


def test_revision_trains_with_the_edm_objective(svd_folder):
    recipe = build_recipe(RevisionConfig(base="video-base", mask_mix=(1.0, 0.0, 0.0)),
                          DataConfig(frames=FRAMES, size=SIZE), svd_folder)
    assert not any(k.startswith("image") for k in recipe.state_dict())  # CLIP stays out of checkpoints
    batch = _batch(torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2)))
    opt = torch.optim.AdamW(recipe.trainable_parameters(), lr=1e-3)
    losses = []
    for step in range(6):
        torch.manual_seed(step % 2)  # two fixed noise draws, so the loss can only fall by learning
        loss, _ = recipe.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-2] + losses[-1] < losses[0] + losses[1], losses
