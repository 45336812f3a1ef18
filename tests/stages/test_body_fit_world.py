"""body_fit's starting orientation from 3D world landmarks recovers a known body orientation."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from physflow.models.body_model import JOINT_NAMES, open_body_model
from physflow.stages.body_fit.world_init import L_HIP, L_SHOULDER, R_HIP, R_SHOULDER, orientation, orientations


def test_orientation_of_a_turned_body():
    model = open_body_model(None, "smpl")
    facing = cv2.Rodrigues(np.array([np.pi, 0.0, 0.0]))[0]  # upright in camera axes (y down), facing the camera
    turn = cv2.Rodrigues(np.array([0.0, 0.7, 0.0]))[0]  # then turned 0.7 rad about the camera's vertical
    truth = cv2.Rodrigues(turn @ facing)[0].ravel()
    with torch.no_grad():
        joints = model(global_orient=torch.tensor(truth[None], dtype=torch.float32)).joints[0].numpy()
    j = {name: i for i, name in enumerate(JOINT_NAMES)}
    world = np.zeros((33, 3))
    for blaze, smpl in ((L_HIP, "left_hip"), (R_HIP, "right_hip"), (L_SHOULDER, "left_shoulder"),
                        (R_SHOULDER, "right_shoulder")):
        world[blaze] = joints[j[smpl]]
    found = orientation(world)
    assert found is not None
    angle = np.degrees(np.linalg.norm(cv2.Rodrigues(cv2.Rodrigues(found)[0].T @ cv2.Rodrigues(truth)[0])[0]))
    assert angle < 10.0
    assert orientations([world.tolist(), None]) is None  # a frame without landmarks: the 2D guess instead


def test_world_term_brings_the_fit_closer_in_3d():
    """With the 2D keypoints alone depth is ambiguous; 3D landmarks (here the true joints, shifted by an unknown
    translation, one dropped per frame) bring the fitted joints closer to the truth (printed with -s)."""
    from physflow.models.smplify import FitSettings, fit_track
    from physflow.stages.body_fit.world_init import _BLAZE_TO_SMPL, world_targets
    from tests.stages.synthetic_body import HEIGHT, WIDTH, synthetic_track

    model = open_body_model(None, "smpl")
    track = synthetic_track(model, n_frames=6, noise_px=3.0, dropped=4, seed=3)
    rows = []
    for t in range(6):
        world = np.zeros((33, 3))
        world[list(_BLAZE_TO_SMPL)] = track.joints[t, list(_BLAZE_TO_SMPL.values())] + [0.3, -0.2, 1.0]
        landmarks = np.ones((33, 4))
        landmarks[list(_BLAZE_TO_SMPL)[t], 3] = 0.0  # not visible: no target
        rows.append({"world_landmarks": world.tolist(), "landmarks": landmarks.tolist()})
    targets = world_targets(rows)
    assert targets is not None and targets.weight.sum() == 6 * 11
    settings = FitSettings(iters_camera=40, iters_full=120)

    def error(fit) -> float:  # type: ignore[no-untyped-def]
        got, true = fit.joints[:, :24], track.joints[:, :24]
        return float(1000 * np.linalg.norm((got - got[:, :1]) - (true - true[:, :1]), axis=-1).mean())

    plain = error(fit_track(model, track.keypoints, WIDTH, HEIGHT, settings))
    with_3d = error(fit_track(model, track.keypoints, WIDTH, HEIGHT, settings, world=targets))
    print(f"\nroot-aligned MPJPE: 2D only {plain:.1f} mm, with the 3D term {with_3d:.1f} mm")
    assert with_3d < plain
    assert world_targets([{"world_landmarks": None}]) is None
