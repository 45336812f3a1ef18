"""The procedural body model is a real SMPL-format file: smplx loads it by path and poses it."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from physflow.models.body_model import (
    JOINT_NAMES,
    PARENTS,
    VERTEX_IDS_KEY,
    build_body_model,
    load_body_model,
    part_labels,
)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return build_body_model(tmp_path_factory.mktemp("body") / "SMPL_NEUTRAL.pkl")


def test_file_has_the_smpl_keys_and_shapes(model_file):
    with open(model_file, "rb") as fh:
        data = pickle.load(fh, encoding="latin1")
    n_verts = data["v_template"].shape[0]
    assert data["v_template"].shape == (n_verts, 3)
    assert data["shapedirs"].shape == (n_verts, 3, 10)
    assert data["posedirs"].shape == (n_verts, 3, 207)
    assert data["J_regressor"].shape == (24, n_verts)
    assert data["weights"].shape == (n_verts, 24)
    assert data["kintree_table"].shape == (2, 24)
    assert data["f"].max() < n_verts and data["f"].dtype == np.uint32
    np.testing.assert_allclose(data["weights"].sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(data["J_regressor"].sum(axis=1), 1.0, atol=1e-9)
    assert list(data["kintree_table"][0, 1:]) == list(PARENTS[1:])
    # every joint owns skin, so every body part can appear in a part mask
    assert set(part_labels(model_file)) == set(range(len(JOINT_NAMES)))


def test_smplx_loads_it_by_path_and_poses_it(model_file):
    import smplx

    with open(model_file, "rb") as fh:
        vertex_ids = pickle.load(fh)[VERTEX_IDS_KEY]
    model = smplx.SMPL(model_path=str(model_file), vertex_ids=vertex_ids)
    rest = model()
    assert rest.joints.shape == (1, 24 + 21, 3)
    # bending the left elbow 90 degrees about y moves the left wrist and nothing on the right side
    body_pose = torch.zeros(1, 69)
    body_pose[0, 3 * (JOINT_NAMES.index("left_elbow") - 1) + 1] = np.pi / 2
    bent = model(body_pose=body_pose)
    lw, rw, le = (JOINT_NAMES.index(n) for n in ("left_wrist", "right_wrist", "left_elbow"))
    moved = (bent.joints - rest.joints)[0].norm(dim=-1)
    assert moved[lw] > 0.2 and moved[rw] < 1e-5 and moved[le] < 1e-5
    forearm = (bent.joints[0, lw] - bent.joints[0, le]).detach().numpy()
    assert abs(forearm[0]) < 0.01 and abs(forearm[2]) > 0.2  # now points along z, not x
    # shape: beta 0 (size) makes the body taller
    tall = model(betas=torch.tensor([[2.0] + [0.0] * 9]))
    height = lambda out: float(out.vertices[0, :, 1].max() - out.vertices[0, :, 1].min())  # noqa: E731
    assert height(tall) > 1.1 * height(rest)


def test_load_body_model_batches(model_file):
    model = load_body_model(model_file, batch_size=3)
    out = model(betas=torch.zeros(3, 10), body_pose=torch.zeros(3, 69), global_orient=torch.zeros(3, 3))
    assert out.vertices.shape[0] == 3 and torch.isfinite(out.vertices).all()
    with pytest.raises(ValueError, match="kind"):
        build_body_model(model_file.with_name("x.npz"), kind="star")


def test_smplx_format_loads_through_smplx(tmp_path):
    import smplx

    path = build_body_model(tmp_path / "SMPLX_NEUTRAL.npz", kind="smplx")
    model = smplx.SMPLX(str(path), ext="npz", use_pca=False, batch_size=2)
    out = model(body_pose=torch.zeros(2, 63))
    assert model.J_regressor.shape[0] == 55 and out.vertices.shape == (2, 10475, 3)
    from smplx.vertex_ids import vertex_ids

    nose = out.vertices[0, vertex_ids["smplx"]["nose"]]
    head = out.joints[0, 15]
    assert float((nose - head).norm()) < 0.25  # smplx's nose vertex id lands on the head
