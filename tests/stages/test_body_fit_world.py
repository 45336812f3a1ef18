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
