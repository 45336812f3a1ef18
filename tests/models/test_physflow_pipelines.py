"""physflow's pipeline subclasses with their extension at its zero initialisation give the stock pipeline's video
for the same inputs and seed, and a saved folder loads through the subclass or DiffusionPipeline(custom_pipeline=)."""

from __future__ import annotations

import copy

import pytest
import torch

from physflow.models.physflow_pipelines import ReVisionSVDPipeline, VideoJAMWanPipeline, write_module_file
from physflow.models.revision_unet import extend_for_masks
from physflow.models.video_dit import extend_for_flow
from tests.fixtures.bases import svd_folder, wan_folder  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(400)
TOLERANCE = 1e-4  # same modules and noise; only the order of float operations differs (test_wan_parity.py)
SVD_CALL = {"height": 16, "width": 16, "num_frames": 4, "num_inference_steps": 2, "output_type": "pt"}
WAN_CALL = {"negative_prompt": "", "height": 16, "width": 16, "num_frames": 5, "num_inference_steps": 3,
            "guidance_scale": 5.0, "output_type": "pt"}


def _seed(n: int) -> torch.Generator:
    return torch.Generator().manual_seed(n)


def test_revision_pipeline_with_zero_mask_weights_is_the_svd_pipeline(svd_folder, tmp_path):  # noqa: F811
    from diffusers import DiffusionPipeline, StableVideoDiffusionPipeline

    stock = StableVideoDiffusionPipeline.from_pretrained(str(svd_folder), local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    image = torch.rand(1, 3, 16, 16, generator=_seed(1))
    ref = stock(image, generator=_seed(0), **SVD_CALL).frames
    unet = extend_for_masks(copy.deepcopy(stock.unet))
    ours = ReVisionSVDPipeline(**{**stock.components, "unet": unet}, max_parts=8)
    ours.set_progress_bar_config(disable=True)
    masks = torch.randint(0, 5, (1, 4, 16, 16)).float()
    without = ours(image, generator=_seed(0), **SVD_CALL).frames
    with_masks = ours(image, generator=_seed(0), masks=masks, mask_confidence=1.0, **SVD_CALL).frames
    d_none, d_masks = float((without - ref).abs().max()), float((with_masks - ref).abs().max())
    print(f"ReVisionSVDPipeline (zero mask weights) vs StableVideoDiffusionPipeline: max diff {d_none:.3g} without "
          f"masks, {d_masks:.3g} with masks")
    assert d_none < TOLERANCE and d_masks < TOLERANCE and float(ref.std()) > 1e-3
    with torch.no_grad():  # the mask channels now matter: the masks must reach the UNet
        unet.conv_in.weight[:, -2:] = 0.5
    moved = ours(image, generator=_seed(0), masks=masks, mask_confidence=1.0, **SVD_CALL).frames
    assert float((moved - ref).abs().max()) > 10 * TOLERANCE
    ours.save_pretrained(str(tmp_path / "out"))
    write_module_file(tmp_path / "out", ReVisionSVDPipeline)
    loaded = ReVisionSVDPipeline.from_pretrained(str(tmp_path / "out"), local_files_only=True)
    assert loaded.config.max_parts == 8 and loaded.unet.config.in_channels == 10
    generic = DiffusionPipeline.from_pretrained(str(tmp_path / "out"), local_files_only=True, trust_remote_code=True,
                                                custom_pipeline=str(tmp_path / "out" / ReVisionSVDPipeline.module_file))
    assert type(generic).__name__ == "ReVisionSVDPipeline"


def test_videojam_pipeline_with_zero_flow_weights_is_the_wan_pipeline(wan_folder, tmp_path):  # noqa: F811
    from diffusers import WanPipeline

    stock = WanPipeline.from_pretrained(str(wan_folder), local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    ref = stock("a ball falls", generator=_seed(7), **WAN_CALL).frames
    transformer = extend_for_flow(copy.deepcopy(stock.transformer), 16)
    ours = VideoJAMWanPipeline(**{**stock.components, "transformer": transformer})
    out = ours("a ball falls", generator=_seed(7), motion_guidance_scale=3.0, **WAN_CALL)
    diff = float((out.frames - ref).abs().max())
    print(f"VideoJAMWanPipeline (zero flow weights, w2 = 3) vs WanPipeline: max diff {diff:.3g}")
    assert diff < TOLERANCE and float(ref.std()) > 1e-3
    assert out.flow.shape == out.frames.shape and torch.isfinite(out.flow).all()
    ours.save_pretrained(str(tmp_path / "out"))
    loaded = VideoJAMWanPipeline.from_pretrained(str(tmp_path / "out"), local_files_only=True)
    assert loaded.transformer.config.in_channels == 32
