"""Synthetic motion with known truth: thrown and rolling balls, walking bodies, and their corruptions.

Used to train the learned temporal prior while the catalog has no annotations yet, and to test that the
optimiser brings corrupted sequences (jitter, hovering against gravity, ground penetration, bent-back knees)
closer to the truth. Units: metres, seconds, y up, ground at y = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from physflow.stages.common.prior.optimise import body_features
from physflow.stages.common.prior.skeleton import FOOT_JOINTS, Skeleton


@dataclass(frozen=True)
class Objects:
    positions: np.ndarray  # [F, N, 3] centres
    radius: np.ndarray  # [N]
    free: np.ndarray  # [N] bool


def _throw(frames: int, fps: float, p0: np.ndarray, v0: np.ndarray, *, radius: float, restitution: float,
           g: float = 9.81, substeps: int = 50) -> np.ndarray:
    """A ball thrown from p0 with v0, bouncing on the ground; sampled at each frame [F, 3]."""
    p, v = p0.astype(float).copy(), v0.astype(float).copy()
    h = 1.0 / (fps * substeps)
    out = np.zeros((frames, 3))
    for f in range(frames):
        out[f] = p
        for _ in range(substeps):
            v[1] -= g * h
            p += v * h
            if p[1] < radius and v[1] < 0:
                p[1] = radius + (radius - p[1])
                v[1] = -restitution * v[1]
    return out


def ballistic_objects(frames: int, fps: float, seed: int = 0) -> Objects:
    """Three objects: a thrown bouncing ball, a ball rolling on the ground (both free) and a carried
    object moving smoothly in the air (not free)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    throw = _throw(frames, fps, np.array([0.0, rng.uniform(0.8, 1.5), 0.0]),
                   np.array([rng.uniform(0.5, 2.0), rng.uniform(4.0, 6.0), rng.uniform(-0.5, 0.5)]), radius=0.1,
                   restitution=rng.uniform(0.5, 0.7))
    roll = np.stack([rng.uniform(-1, 1) + rng.uniform(0.3, 1.5) * t, np.full(frames, 0.15),
                     np.full(frames, rng.uniform(-1, 1))], 1)
    carried = np.stack([0.5 * np.sin(1.5 * t + rng.uniform(0, 3)), 1.0 + 0.2 * np.sin(2.0 * t), 0.3 * t], 1)
    return Objects(np.stack([throw, roll, carried], 1), np.array([0.1, 0.15, 0.2]), np.array([True, True, False]))


def corrupt_objects(obj: Objects, seed: int = 0, jitter: float = 0.03) -> np.ndarray:
    """Observed centres: Gaussian jitter, the thrown ball hovering at its peak height for two more frames
    (against gravity) and the rolling ball sunk into the ground in some frames."""
    rng = np.random.default_rng(seed)
    obs = obj.positions + rng.normal(0, jitter, obj.positions.shape)
    frames = obs.shape[0]
    peak = int(np.argmax(obj.positions[: frames // 2 + 1, 0, 1]))
    obs[peak + 1 : peak + 3, 0, 1] = obj.positions[peak, 0, 1]  # floats instead of falling
    sink = rng.choice(frames, size=max(2, frames // 8), replace=False)
    obs[sink, 1, 1] -= 0.12  # the rolling ball dips into the ground
    return obs


def walk_params(frames: int, fps: float, *, stride: float = 0.4, cadence: float = 1.6, phase: float = 0.0,
                skeleton: Skeleton | None = None) -> dict[str, np.ndarray]:
    """SMPL parameters of a body walking along +z (hip swing `stride` rad, `cadence` steps/s): the stance
    leg's lowest point stays planted on the ground while the swing leg bends its knee to clear it."""
    skel = skeleton or Skeleton.smpl()
    t = np.arange(frames) / fps
    w = np.pi * cadence * t + phase  # one stride (2 pi) = two steps
    pose = np.zeros((frames, 23, 3))
    pose[:, 0, 0] = -stride * np.sin(w)  # left hip (joint 1): + swings the leg backwards
    pose[:, 1, 0] = stride * np.sin(w)  # right hip
    pose[:, 3, 0] = 0.05 + 1.4 * np.clip(np.cos(w), 0, None)  # left knee bends while the left leg swings
    pose[:, 4, 0] = 0.05 + 1.4 * np.clip(-np.cos(w), 0, None)
    pose[:, 15, 2] = -1.2  # left shoulder: arms down from the T-pose
    pose[:, 16, 2] = 1.2
    pose[:, 15, 1] = 0.3 * np.sin(w)  # arm swing
    pose[:, 16, 1] = 0.3 * np.sin(w)
    pose[:, 17, 1] = -0.3  # elbows slightly bent
    pose[:, 18, 1] = 0.3
    orient = np.zeros((frames, 3))
    transl = np.zeros((frames, 3))
    with torch.no_grad():
        rel = skel.joints(*(torch.as_tensor(a, dtype=torch.float32) for a in (orient, pose, transl))).numpy()
    legs = (list(FOOT_JOINTS[0::2]), list(FOOT_JOINTS[1::2]))  # (left ankle, left foot), (right ...)
    stance = [legs[0][int(np.argmin(rel[f, legs[0], 1]))] if np.cos(w[f]) < 0
              else legs[1][int(np.argmin(rel[f, legs[1], 1]))] for f in range(frames)]
    for f in range(1, frames):  # the body moves by what the planted point would slide
        j = stance[f]
        transl[f, [0, 2]] = transl[f - 1, [0, 2]] - (rel[f, j, [0, 2]] - rel[f - 1, j, [0, 2]])
    transl[:, 1] = -rel[..., 1].min(1)  # the lowest point (the planted one, or a toe at the swap) on the ground
    return {"global_orient": orient, "body_pose": pose, "transl": transl}


def body_joints(params: dict[str, np.ndarray], skeleton: Skeleton | None = None) -> np.ndarray:
    skel = skeleton or Skeleton.smpl()
    with torch.no_grad():
        args = (torch.as_tensor(params[n], dtype=torch.float32) for n in ("global_orient", "body_pose", "transl"))
        return skel.joints(*args).numpy()


def corrupt_body(params: dict[str, np.ndarray], seed: int = 0, jitter: float = 0.04) -> dict[str, np.ndarray]:
    """Noisy fits: angle and translation jitter, the body sunk into the ground in some frames and knees bent
    backwards (past their limit) in others."""
    rng = np.random.default_rng(seed)
    frames = params["transl"].shape[0]
    out = {k: v.copy() for k, v in params.items()}
    out["body_pose"] += rng.normal(0, jitter, out["body_pose"].shape)
    out["global_orient"] += rng.normal(0, jitter / 2, out["global_orient"].shape)
    out["transl"] += rng.normal(0, jitter / 2, out["transl"].shape)
    sink = rng.choice(frames, size=max(2, frames // 6), replace=False)
    out["transl"][sink, 1] -= 0.1
    hyper = rng.choice(frames, size=max(2, frames // 6), replace=False)
    out["body_pose"][hyper, 3, 0] = -0.4  # left knee bent backwards
    return out


def object_training_set(n: int, frames: int, fps: float, seed: int = 0) -> torch.Tensor:
    """Velocity sequences [n * 3, F-1, 3] (m/s) of clean synthetic objects, for the learned prior."""
    seqs = [ballistic_objects(frames, fps, seed + i).positions for i in range(n)]
    vel = np.concatenate([np.diff(p, axis=0).transpose(1, 0, 2) * fps for p in seqs])
    return torch.as_tensor(vel, dtype=torch.float32)


def body_training_set(n: int, frames: int, fps: float, seed: int = 0) -> torch.Tensor:
    """Body features [n, F-1, 75] of clean synthetic walks with random speed, cadence and phase."""
    rng = np.random.default_rng(seed)
    skel = Skeleton.smpl()
    out = []
    for _ in range(n):
        params = walk_params(frames, fps, stride=rng.uniform(0.25, 0.5), cadence=rng.uniform(1.2, 2.0),
                             phase=rng.uniform(0, 6.3), skeleton=skel)
        out.append(body_features(torch.as_tensor(body_joints(params, skel)), fps))
    return torch.cat(out).float()


@dataclass(frozen=True)
class SeenWalk:
    """A walk seen by a level pinhole camera: the truth in phase 2's world (camera at the origin, y up) and
    the COCO-17 keypoints a pose model would give (pixel noise, some frames shifted down in the image)."""

    joints: np.ndarray  # [F, 24, 3] true joints, world
    keypoints: np.ndarray  # [F, 17, 3] x, y, confidence (pixels)
    camera: np.ndarray  # focal, cx, cy, width, height


def seen_walk(model, frames: int, fps: float, width: int, height: int, *, camera_height: float = 1.0,  # type: ignore[no-untyped-def]
              distance: float = 4.0, noise_px: float = 2.0, shifted: tuple[int, ...] = (), shift_px: float = 12.0,
              seed: int = 0) -> SeenWalk:
    """A side-on walk to the right, `distance` m in front of a level camera `camera_height` m above the
    ground, seen through `model` (an smplx SMPL model with zero shape)."""
    from physflow.models.smplify import body_forward, camera_for, coco17_joint_index, project
    from physflow.stages.common.prior.bodies import camera_to_world, rest_joints

    world = walk_params(frames, fps)
    world["global_orient"][:] = [0.0, np.pi / 2, 0.0]  # facing +x: side on to the camera
    world["transl"][:, 1] += -camera_height - body_joints(world)[..., 1].min()
    world["transl"][:, 2] = -distance
    world["transl"][:, 0] = -0.5 + 0.08 * np.arange(frames)
    root = rest_joints(model, np.zeros(model.num_betas))[0]
    orient, transl = camera_to_world(world["global_orient"], world["transl"], root)  # the flip is its own inverse
    camera = camera_for(width, height)
    f32 = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        out = body_forward(model, torch.zeros(1, model.num_betas), f32(orient),
                           f32(world["body_pose"].reshape(frames, -1)), f32(transl))
        clean = project(out.joints[:, coco17_joint_index(24)], f32(camera)).numpy()
    rng = np.random.default_rng(seed)
    noisy = clean + rng.normal(0, noise_px, clean.shape)
    noisy[list(shifted), :, 1] += shift_px
    keypoints = np.concatenate([noisy, np.ones((*clean.shape[:2], 1))], -1)
    return SeenWalk(body_joints(world), keypoints, camera)
