"""A Wan pipeline folder as base: with its flow extension zero-initialised, the VideoJAM recipe's sampler gives
WanPipeline.__call__'s video for the same prompt, seed and steps; and the recipe trains in Wan's parametrisation."""

from __future__ import annotations

import pytest
import torch

from physflow.models.wan_base import WAN_TEXT_TOKENS, UMT5Prompts, build_tiny_wan_pipeline, scheduler_sigmas
from physflow.stages.train.data import DataConfig
from physflow.stages.train.recipes import VideoJAMConfig, build_recipe

pytestmark = pytest.mark.timeout(300)

# Tolerance: both sides run the same float32 modules on the same noise; they differ only in the order of float
# operations (CFG written as (1 + w) c - w u vs u + g (c - u), timestep sigma * 1000 formed once in the scheduler
# and once in JointDiT, std multiplied vs divided by its inverse), a few float32 ulps per step.
TOLERANCE = 1e-4
PROMPT = "a red ball falls and bounces"


@pytest.fixture(scope="module")
def wan_folder(tmp_path_factory: pytest.TempPathFactory):
    return build_tiny_wan_pipeline(tmp_path_factory.mktemp("wan") / "wan-tiny")


def test_videojam_sampler_reproduces_wan_pipeline(wan_folder):
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(str(wan_folder), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    kwargs = {"negative_prompt": "", "height": 16, "width": 16, "num_frames": 5, "num_inference_steps": 3,
              "guidance_scale": 5.0}
    ref = pipe(PROMPT, generator=torch.Generator().manual_seed(7), output_type="pt", **kwargs).frames  # [1, F, 3, H, W]
    recipe = build_recipe(VideoJAMConfig(base="video-base", w1=4.0, w2=3.0), DataConfig(frames=5, size=16),
                          wan_folder).eval()
    assert recipe.model.flow_channels == 16 and recipe.shift == 3.0
    batch = {"prompt": [PROMPT], "video": torch.zeros(1, 3, 5, 16, 16)}
    ours = recipe.sample(batch, 3, torch.Generator().manual_seed(7))  # [1, 3, F, H, W] in [-1, 1]
    ours = (ours / 2 + 0.5).clamp(0, 1).permute(0, 2, 1, 3, 4)
    diff = float((ours - ref).abs().max())
    print(f"wan parity: max |physflow - WanPipeline| = {diff:.3g} (video in [0, 1]; tolerance {TOLERANCE})")
    assert ref.shape == ours.shape and float(ref.std()) > 1e-3
    assert diff < TOLERANCE


def test_text_embeddings_are_wan_pipeline_embeddings(wan_folder):
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(str(wan_folder), local_files_only=True)
    ref, neg = pipe.encode_prompt([PROMPT], negative_prompt="", max_sequence_length=WAN_TEXT_TOKENS, device="cpu")
    ours = UMT5Prompts.from_folder(wan_folder)([PROMPT, ""])
    # The same UMT5 forward; float32 kernels may pick a different reduction order (measured: 9.5e-7).
    assert torch.allclose(ours[:1], ref, atol=1e-5) and torch.allclose(ours[1:], neg, atol=1e-5)
    assert float(ours[0, 40:].abs().max()) == 0.0  # zero past the prompt's 29 tokens


def test_scheduler_sigmas_are_shifted(wan_folder):
    sigmas = scheduler_sigmas(wan_folder, 4)
    assert sigmas[0] == 1.0 and sigmas[-1] == 0.0 and len(sigmas) == 5
    # shift 3 puts more steps at high noise than a uniform schedule
    assert float(sigmas[2]) > 0.5


def test_recipe_trains_from_the_wan_folder(wan_folder):
    data = DataConfig(frames=5, size=16)
    recipe = build_recipe(VideoJAMConfig(base="video-base"), data, wan_folder)
    assert not any(k.startswith("text") for k in recipe.state_dict())  # the UMT5 encoder stays out of checkpoints
    batch = {"prompt": ["a ball"] * 2, "video": torch.rand(2, 3, 5, 16, 16) * 2 - 1,
             "flow": torch.rand(2, 3, 5, 16, 16) * 2 - 1, "has_flow": torch.tensor([True, True])}
    opt = torch.optim.AdamW(recipe.trainable_parameters(), lr=3e-3)
    torch.manual_seed(0)
    losses = []
    for _ in range(8):
        loss, _ = recipe.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert sum(losses[-3:]) < sum(losses[:3]), losses


def test_stored_prompt_embeddings_equal_the_encoder_and_are_computed_once(wan_folder, tmp_path):
    from physflow.models.text_store import EmbeddingStore
    from physflow.models.wan_base import wan_prompt_encoder

    direct = UMT5Prompts.from_folder(wan_folder)([PROMPT, ""])
    first = wan_prompt_encoder(wan_folder, EmbeddingStore(str(tmp_path)))
    assert torch.equal(first([PROMPT, "", PROMPT]), direct[[0, 1, 0]]) and first.computed == 2
    known = {r["text_sha256"]: r["uri"] for r in first.rows}  # what the train flow registers and reads back
    again = wan_prompt_encoder(wan_folder, EmbeddingStore(str(tmp_path), known))
    assert torch.equal(again([PROMPT, ""]), direct) and (again.computed, again.loaded, again.encoder_loads) == (0, 2, 0)
