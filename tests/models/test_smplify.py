"""The fitter's keypoint model gives the same joints as the smplx forward pass, for SMPL and SMPL-X files."""

from __future__ import annotations

import pytest
import torch

from physflow.models.body_model import build_body_model, load_body_model
from physflow.models.smplify import KeypointModel, body_forward, camera_for, project


@pytest.mark.parametrize(("kind", "name"), [("smpl", "SMPL_NEUTRAL.pkl"), ("smplx", "SMPLX_NEUTRAL.npz")])
def test_keypoint_model_matches_smplx_forward(tmp_path, kind, name):
    model = load_body_model(build_body_model(tmp_path / name, kind=kind), kind)
    gen = torch.Generator().manual_seed(0)
    n, n_pose = 4, 3 * model.NUM_BODY_JOINTS
    args = (0.5 * torch.randn(1, 10, generator=gen), 0.5 * torch.randn(n, 3, generator=gen),
            0.3 * torch.randn(n, n_pose, generator=gen), torch.randn(n, 3, generator=gen))
    with torch.no_grad():
        want = body_forward(model, *args).joints[:, : model.J_regressor.shape[0] + len(model.vertex_joint_selector.extra_joints_idxs)]
        got = KeypointModel(model)(*args)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_projection_centre_and_focal():
    cam = torch.tensor(camera_for(640, 480), dtype=torch.float32)
    assert cam[0] == 800.0  # focal = image diagonal
    pix = project(torch.tensor([[0.0, 0.0, 4.0], [1.0, -0.5, 4.0]]), cam)
    torch.testing.assert_close(pix, torch.tensor([[320.0, 240.0], [520.0, 140.0]]))
