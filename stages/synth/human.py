"""An articulated human in the synthetic world: the project's procedural SMPL-format body, posed by smplx
with scripted motions (walking in place, jumping, waving), rendered as a flat-shaded mesh.

The body model file is built once per process (`models.body_model.build_body_model`) and loaded through
smplx's ordinary SMPL path. The camera is orthographic and looks along -z at a body facing +z, turned by
a small yaw; metres map to pixels with the scene's `ppm`, like every other scene. The jump's flight is
ballistic: the root translation follows y = v0 t - g t^2 / 2 exactly, with the legs held still.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from physflow.models.body_model import JOINT_NAMES, open_body_model

J = {name: i for i, name in enumerate(JOINT_NAMES)}
# COCO-17 keypoints as smplx SMPL output joints: 24 body joints, then nose, reye, leye, rear, lear (24..28).
COCO17 = (24, 26, 25, 28, 27, J["left_shoulder"], J["right_shoulder"], J["left_elbow"], J["right_elbow"],
          J["left_wrist"], J["right_wrist"], J["left_hip"], J["right_hip"], J["left_knee"], J["right_knee"],
          J["left_ankle"], J["right_ankle"])
FOOT_Y = -1.178  # lowest rest vertex of the procedural body (metres, model frame)
_LIGHT = np.array([-0.35, 0.5, 0.8]) / np.linalg.norm([-0.35, 0.5, 0.8])
_SS = 2  # supersampling factor of the rasteriser


@functools.lru_cache(maxsize=1)
def body_model():  # type: ignore[no-untyped-def]
    """The procedural SMPL-format body as an smplx model, built and loaded once per process (its file in a
    temporary folder, removed once loaded)."""
    model = open_body_model(None, "smpl")
    faces = np.asarray(model.faces, dtype=np.int64)
    parts = np.asarray(model.lbs_weights.detach().numpy()).argmax(axis=1)
    return model, faces, parts


def _pose(t: float, motion: str, g: float) -> tuple[np.ndarray, np.ndarray]:
    """(body_pose (23, 3) axis-angle, root height offset in metres) of a scripted motion at time t."""
    pose = np.zeros((24, 3))
    pose[J["left_shoulder"], 2], pose[J["right_shoulder"], 2] = -1.25, 1.25  # arms down from the T-pose
    lift = 0.0
    if motion == "walk":
        phase = 2 * np.pi * 1.0 * t
        for side, sign in (("left", 1.0), ("right", -1.0)):
            swing = sign * np.sin(phase)
            pose[J[f"{side}_hip"], 0] = -0.45 * max(0.0, swing)
            pose[J[f"{side}_knee"], 0] = 0.8 * max(0.0, swing)
            pose[J[f"{side}_shoulder"], 0] = 0.35 * swing
    elif motion == "jump":
        lift, crouch = _jump(t, g)
        for side in ("left", "right"):
            pose[J[f"{side}_hip"], 0] = -0.6 * crouch
            pose[J[f"{side}_knee"], 0] = 1.2 * crouch
            pose[J[f"{side}_ankle"], 0] = -0.5 * crouch
        raise_arms = 1.6 * _arms_up(t, g)
        pose[J["left_shoulder"], 2], pose[J["right_shoulder"], 2] = -1.25 + raise_arms, 1.25 - raise_arms
        lift -= 0.22 * crouch  # the pelvis drops as the knees bend
    elif motion == "wave":
        pose[J["right_shoulder"], 2] = -1.1
        pose[J["right_elbow"], 1] = 0.9 + 0.5 * np.sin(2 * np.pi * 1.5 * t)
    return pose[1:], np.array([0.0, lift, 0.0])


def _jump(t: float, g: float) -> tuple[float, float]:
    """(height of the ballistic flight, crouch 0..1): crouch 0.0-0.5 s, take-off at 0.5 s with 2.2 m/s
    upward, land when back at 0, then crouch and rise again."""
    t_off, v0 = 0.5, 2.2
    t_land = t_off + 2 * v0 / g
    if t < t_off:  # down and up again: straight legs at take-off
        return 0.0, float(np.sin(np.pi * t / t_off))
    if t < t_land:
        dt = t - t_off
        return v0 * dt - 0.5 * g * dt * dt, 0.0
    return 0.0, float(np.sin(np.pi * min(1.0, (t - t_land) / 0.6)))


def _arms_up(t: float, g: float) -> float:
    """0..1: the arms swing up smoothly before take-off and down again after landing."""
    t_land = 0.5 + 2 * 2.2 / g
    up = np.clip((t - 0.2) / 0.3, 0, 1)
    down = np.clip((t - t_land) / 0.4, 0, 1)
    return float(np.sin(np.pi / 2 * up) ** 2 * (1 - np.sin(np.pi / 2 * down) ** 2))


@dataclass
class HumanPose:
    body_pose: np.ndarray  # (T, 69)
    global_orient: np.ndarray  # (T, 3)
    transl: np.ndarray  # (T, 3)
    betas: np.ndarray  # (10,)
    vertices: np.ndarray  # (T, V, 3) metres
    joints: np.ndarray  # (T, 45, 3) metres


def pose_sequence(motion: str, times: np.ndarray, g: float, betas: np.ndarray, yaw: float) -> HumanPose:
    """Run smplx on the scripted motion at each time."""
    import torch

    model, _, _ = body_model()
    poses = [_pose(float(t), motion, g) for t in times]
    body_pose = np.stack([p.reshape(-1) for p, _ in poses])
    transl = np.stack([tr for _, tr in poses])
    orient = np.tile([0.0, yaw, 0.0], (len(times), 1))
    with torch.no_grad():
        out = model(body_pose=torch.tensor(body_pose, dtype=torch.float32),
                    global_orient=torch.tensor(orient, dtype=torch.float32),
                    transl=torch.tensor(transl, dtype=torch.float32),
                    betas=torch.tensor(np.tile(betas, (len(times), 1)), dtype=torch.float32))
    return HumanPose(body_pose, orient, transl, betas, out.vertices.numpy().astype(np.float64),
                     out.joints.numpy().astype(np.float64))


def _colours(parts: np.ndarray, shirt_rgb: tuple[int, int, int]) -> np.ndarray:
    """Per-vertex base colour: skin on head and hands, the shirt on torso and arms, dark trousers on legs."""
    skin, trousers = np.array([224, 180, 150]), np.array([60, 62, 75])
    legs = {J[f"{s}_{p}"] for s in ("left", "right") for p in ("hip", "knee", "ankle", "foot")}
    bare = {J["head"], J["neck"], J["left_hand"], J["right_hand"], J["left_wrist"], J["right_wrist"]}
    out = np.tile(np.array(shirt_rgb, np.float64), (len(parts), 1))
    out[np.isin(parts, list(legs))] = trousers
    out[np.isin(parts, list(bare))] = skin
    return out


def rasterise(verts_px: np.ndarray, depth: np.ndarray, verts_3d: np.ndarray, colours: np.ndarray, *,
              faces: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Painter's-algorithm render of a closed mesh at 2x and area-downsampled: (RGB float, coverage 0..1)."""
    h, w = shape
    big_rgb = np.zeros((h * _SS, w * _SS, 3), np.float32)
    big_a = np.zeros((h * _SS, w * _SS), np.float32)
    tri = verts_3d[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    normal *= np.sign(normal[:, 2:3] + 1e-12)  # face the camera: hidden faces are painted over anyway
    shade = 0.35 + 0.65 * np.clip(normal @ _LIGHT, 0, 1)
    pts = np.round((verts_px[faces] + 0.5) * _SS - 0.5).astype(np.int32)
    for k in np.argsort(depth[faces].mean(axis=1)):  # far to near
        colour = colours[faces[k]].mean(axis=0) * shade[k]
        cv2.fillConvexPoly(big_rgb, pts[k], colour.tolist())
        cv2.fillConvexPoly(big_a, pts[k], 1.0)
    rgb = cv2.resize(big_rgb, (w, h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(big_a, (w, h), interpolation=cv2.INTER_AREA)
    return rgb / np.maximum(alpha, 1e-6)[..., None], alpha


MOTIONS: dict[str, str] = {"human_walk": "walk", "human_jump": "jump", "human_wave": "wave"}


def build_human(rng: np.random.Generator, fr, seed: int, kind: str):  # type: ignore[no-untyped-def]
    """A human scene (`Scene`) from a `scenes._Frame`: posed mesh layers, pelvis track, COCO-17 keypoints."""
    from physflow.stages.synth.scenes import PALETTE, Scene, SceneObject

    motion = MOTIONS[kind]
    g, cfg = fr.cfg.gravity, fr.cfg
    betas = np.clip(rng.normal(0, 0.8, 10), -2, 2)
    yaw = float(rng.uniform(-0.6, 0.6))
    hue, name = PALETTE[int(rng.integers(len(PALETTE)))]
    x0 = float(rng.uniform(0.35, 0.65)) * fr.width_m
    seq = pose_sequence(motion, fr.times, g, betas, yaw)
    _, faces, parts = body_model()
    floor_offset = -seq.vertices[0][:, 1].min() if motion != "jump" else -FOOT_Y
    world = seq.vertices + np.array([x0, floor_offset, 0.0])
    joints = seq.joints + np.array([x0, floor_offset, 0.0])
    shirt = SceneObject(0, "human", hue, name, 0.0, 70.0, np.zeros((fr.times.size, 2)), np.zeros((fr.times.size, 2)))
    colours = _colours(parts, shirt.rgb)
    layers, masks = [], []
    for t in range(fr.times.size):
        rgb, alpha = rasterise(fr.px(world[t][:, :2]), world[t][:, 2], world[t], colours, faces=faces,
                               shape=(cfg.height, cfg.width))
        layers.append((rgb, alpha))
        masks.append(alpha >= 0.5)
    pelvis = joints[:, J["pelvis"], :2]
    eps = 1e-4  # the pelvis moves with the root translation only (constant orientation): differentiate that
    lift = np.array([[(_pose(t + eps, motion, g)[1][1] - _pose(t - eps, motion, g)[1][1]) / (2 * eps)]
                     for t in fr.times])
    shirt.pos = fr.px(pelvis)
    shirt.vel = fr.px_vel(np.concatenate([np.zeros_like(lift), lift], axis=1))
    shirt.masks = np.stack(masks)
    shirt.radius_px = float(np.sqrt(shirt.masks.sum(axis=(1, 2)).mean() / np.pi))
    kp = np.concatenate([fr.px(joints[:, COCO17, :2]), np.full((fr.times.size, 17, 1), 2.0)], axis=2)
    verb = {"walk": "walks in place", "jump": "jumps once", "wave": "waves with the right hand"}[motion]
    caption = f"a person in a {name} shirt {verb}"
    params = {"g": g if motion == "jump" else None, "motion": motion, "betas": betas.tolist(), "yaw": yaw,
              "mass": [70.0]}
    scene = Scene(kind, seed, cfg.width, cfg.height, cfg.fps, fr.ppm, fr.floor_px, params, caption, [shirt])
    scene.layers = layers
    scene.human = {"keypoints": kp, "body_pose": seq.body_pose, "global_orient": seq.global_orient,
                   "transl": seq.transl + np.array([x0, floor_offset, 0.0]), "betas": betas}
    if motion == "jump":
        scene.events = [0.5, 0.5 + 2 * 2.2 / g]
    return scene
