"""RAFT's loading path: a torchvision state dict saved to a file, registered, loaded and run on a real clip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.storage import Root
from physflow.models.raft import RaftFlow, RaftWeightsError, build_raft, load_raft
from physflow.models.registry import MissingWeightsError, WeightsRegistry
from physflow.stages.common.video_io import iter_frames
from physflow.stages.optical_flow import FlowClip, OpticalFlowConfig, OpticalFlowStage
from physflow.stages.optical_flow.flo import read_flow_sequence

PANCAKE = "decord_flipping_a_pancake.mkv"


@pytest.fixture(scope="module")
def raft_small_file(tmp_path_factory):
    """A raft_small state dict in the format torchvision's weights files hold (random init, fixed seed)."""
    torch.manual_seed(0)
    model = build_raft("raft_small")
    path = tmp_path_factory.mktemp("weights") / "raft.pth"
    torch.save(model.state_dict(), path)
    return path, model.eval()


def _frames(real_videos, n=3, width=128):
    return np.stack([f for _, f in iter_frames(real_videos / PANCAKE, start=0, end=n, width=width)])


def test_registered_file_loads_and_matches_the_saved_model(raft_small_file, real_videos):
    path, original = raft_small_file
    registry = WeightsRegistry({"raft": {"path": str(path)}})
    flow = RaftFlow.from_registry(registry, "raft_small", iters=2)
    frames = _frames(real_videos)
    out = flow(frames[:-1], frames[1:])
    assert out.shape == (2, 72, 128, 2) and out.dtype == np.float32 and np.isfinite(out).all()
    expected = RaftFlow(original, iters=2)(frames[:-1], frames[1:])
    np.testing.assert_allclose(out, expected, atol=1e-5)  # the file's weights, not a fresh random init


def test_unregistered_raft_names_the_file_and_fallback(tmp_path):
    with pytest.raises(MissingWeightsError, match=r"raft\.pth.*OpenCV DIS"):
        RaftFlow.from_registry(WeightsRegistry(weights_dir=tmp_path), "raft_small")


def test_wrong_variant_fails_naming_the_right_one(raft_small_file):
    path, _ = raft_small_file
    with pytest.raises(RaftWeightsError, match=r"do not fit torchvision raft_large.*is a raft_small state dict"):
        load_raft(path, "raft_large")


def test_wrong_keys_and_shapes_fail_clearly(raft_small_file, tmp_path):
    path, _ = raft_small_file
    state = torch.load(path, weights_only=True)
    name = next(iter(state))
    renamed = {("renamed." + k if k == name else k): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "keys.pth")
    with pytest.raises(RaftWeightsError, match=rf"1 missing keys: {name}.*1 unexpected keys: renamed\.{name}"):
        load_raft(tmp_path / "keys.pth", "raft_small")
    reshaped = dict(state)
    reshaped[name] = torch.zeros(3, 3)
    torch.save(reshaped, tmp_path / "shape.pth")
    with pytest.raises(RaftWeightsError, match=rf"1 shape mismatches: {name} \(3, 3\)"):
        load_raft(tmp_path / "shape.pth", "raft_small")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(RaftWeightsError, match="not a readable torch state dict"):
        load_raft(tmp_path / "junk.pth", "raft_small")


def test_stage_runs_raft_on_a_real_clip(raft_small_file, real_videos, tmp_path):
    path, _ = raft_small_file
    config = OpticalFlowConfig(method="raft", raft_model="raft_small", raft_weights=str(path), raft_iters=2,
                               raft_batch=2, device="cpu", width=128)
    stage = OpticalFlowStage(config)
    assert len(stage.weights_sha256()) == 1
    clip = FlowClip("pancake:0-6", str(real_videos / PANCAKE), 0, 6, str(tmp_path), 30.0)
    row = stage.run([clip]).to_pylist()[0]
    assert row["error"] is None and (row["method"], row["variant"], row["n_pairs"]) == ("raft", "raft_small", 5)
    assert read_flow_sequence(BlobStore(Root(tmp_path)).resolve(row["flow_uri"])).shape == (5, 72, 128, 2)


def test_stage_without_weights_fails_before_work(tmp_path, real_videos):
    stage = OpticalFlowStage(OpticalFlowConfig(method="raft"))
    with pytest.raises(FileNotFoundError, match="needs raft_weights"):
        stage.run([FlowClip("c", str(real_videos / PANCAKE), 0, 3, str(tmp_path))])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_raft_on_cuda_matches_cpu(raft_small_file, real_videos):
    path, _ = raft_small_file
    frames = _frames(real_videos, n=3, width=256)
    cpu = RaftFlow(load_raft(path, "raft_small"), "cpu", iters=4)(frames[:-1], frames[1:])
    gpu = RaftFlow(load_raft(path, "raft_small"), "cuda", iters=4)(frames[:-1], frames[1:])
    assert np.abs(cpu - gpu).mean() < 1e-2
