"""Synthetic truth for the fitting tests: a body with known parameters, its COCO-17 keypoints in an image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from physflow.models.smplify import body_forward, camera_for, coco17_joint_index, project

WIDTH, HEIGHT = 640, 480


@dataclass
class SyntheticTrack:
    betas: torch.Tensor  # (1, 10)
    global_orient: torch.Tensor  # (T, 3)
    body_pose: torch.Tensor  # (T, 69)
    transl: torch.Tensor  # (T, 3)
    joints: np.ndarray  # (T, J, 3) true joints in camera space
    keypoints: np.ndarray  # (T, 17, 3) noisy pixels with confidence (0 = dropped)
    clean: np.ndarray  # (T, 17, 2) exact projections
    camera: np.ndarray


def synthetic_track(model, n_frames: int = 8, noise_px: float = 1.5, dropped: int = 2, seed: int = 0) -> SyntheticTrack:  # type: ignore[no-untyped-def]
    """A walking-ish body 4 m from the camera: random shape, bent elbows and knees, smooth motion."""
    rng = np.random.default_rng(seed)
    ts = np.linspace(0, 1, n_frames)[:, None]
    betas = torch.tensor(rng.normal(0, 0.5, (1, 10)), dtype=torch.float32)
    base = rng.normal(0, 0.12, 69)
    base[3 * 17 + 1], base[3 * 18 + 1], base[3 * 3], base[3 * 4] = -0.6, 0.6, 0.4, 0.2  # elbows, knees bent
    pose = (base[None] + 0.075 * np.sin(2 * np.pi * ts + rng.uniform(0, 6, 69)[None]))[:, : 3 * model.NUM_BODY_JOINTS]
    orient = np.stack([[np.pi, 0.3 * np.sin(t), 0.0] for t in ts[:, 0]])
    transl = np.stack([[0.2 * t, 0.1, 4.0] for t in ts[:, 0]])
    f32 = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    camera = camera_for(WIDTH, HEIGHT)
    with torch.no_grad():
        out = body_forward(model, betas, f32(orient), f32(pose), f32(transl))
        clean = project(out.joints[:, coco17_joint_index(model.J_regressor.shape[0])], f32(camera)).numpy()
    conf = np.ones(clean.shape[:2])
    for t in range(n_frames):
        conf[t, rng.choice(17, dropped, replace=False)] = 0.0
    noisy = clean + rng.normal(0, noise_px, clean.shape)
    return SyntheticTrack(betas, f32(orient), f32(pose), f32(transl), out.joints.numpy(),
                          np.concatenate([noisy, conf[..., None]], axis=-1), clean, camera)


@dataclass
class SyntheticHands:
    hand_pose: torch.Tensor  # (T, 90) true left then right hand pose
    points: np.ndarray  # (T, 2, 21, 3) true hand keypoints (MediaPipe order) in camera space
    pixels: np.ndarray  # (T, 2, 21, 3) noisy pixels with presence 1
    world: np.ndarray  # (T, 2, 21, 3) true points about each hand's centre (as a hand model's world landmarks)


def synthetic_hands(model, truth: SyntheticTrack, noise_px: float = 1.0, seed: int = 1) -> SyntheticHands:  # type: ignore[no-untyped-def]
    """Curled fingers (each finger its own amount, breathing over time) and a turned thumb on both hands of an
    SMPL-X `truth` track, with their 21 MediaPipe-ordered keypoints."""
    from physflow.models.hand_fit import hand_keypoint_index

    rng = np.random.default_rng(seed)
    n = len(truth.global_orient)
    pose = np.zeros((n, 2, 15, 3))
    for side, sign in ((0, -1.0), (1, 1.0)):  # flexion: negative about z on the left hand, positive on the right
        curl = rng.uniform(0.3, 1.2, 4)
        for finger in range(4):
            pose[:, side, 3 * finger:3 * finger + 3, 2] = sign * curl[finger] * (1 + 0.2 * np.sin(np.linspace(0, 3, n)))[:, None]
        pose[:, side, 12:] = rng.normal(0, 0.3, (3, 3))
    hand_pose = torch.tensor(pose.reshape(n, 90), dtype=torch.float32)
    with torch.no_grad():
        out = body_forward(model, truth.betas, truth.global_orient, truth.body_pose, truth.transl,
                           left_hand_pose=hand_pose[:, :45], right_hand_pose=hand_pose[:, 45:])
        points = np.stack([out.joints[:, hand_keypoint_index(model, s)].numpy() for s in ("left", "right")], 1)
        pix = project(torch.tensor(points), torch.tensor(truth.camera, dtype=torch.float32)).numpy()
    pix = pix + rng.normal(0, noise_px, pix.shape)
    pixels = np.concatenate([pix, np.ones((*points.shape[:-1], 1))], -1)
    return SyntheticHands(hand_pose, points, pixels, points - points.mean(2, keepdims=True))
