"""Opt-in GPU check (pytest -m gpu): the three phases with the video model on CUDA, seconds per phase printed."""

from __future__ import annotations

import json

import pytest
import torch

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.storage import Root
from physflow.stages.common.video_io import probe
from physflow.stages.generate.config import GenerateConfig
from physflow.stages.generate.stage import GenerateItem, GenerateStage

pytestmark = [pytest.mark.gpu, pytest.mark.timeout(600)]


@pytest.mark.parametrize("checkpoint", ["tiny-revision", "tiny-videojam"])
def test_three_phases_on_gpu(first_frame, tmp_path, checkpoint) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    stage = GenerateStage(GenerateConfig(checkpoint=checkpoint, device="cuda", frames=32, width=128, height=128,
                                         steps=16))
    item = GenerateItem("a red ball is thrown", str(first_frame), "ab" * 32, str(tmp_path), seed=0)
    rows = stage.run([item]).to_pylist()
    assert [r["stage"] for r in rows] == ["coarse", "prior", "refined"], rows[0].get("error")
    assert next(stage._pipeline(str(tmp_path)).generator.parameters()).device.type == "cuda"
    for row in rows:
        assert row["error"] is None and probe(BlobStore(Root(tmp_path)).resolve(row["video_uri"])).n_frames == 32
    print(f"{checkpoint} on {torch.cuda.get_device_name()}: " + ", ".join(
        f"{r['stage']} {r['seconds']:.2f} s" for r in rows) + f"; phase 2 found {json.loads(rows[1]['metrics'])['objects']} objects")
