"""Differentiable forward kinematics of the SMPL joint tree and its joint limits (torch).

A body-pose sequence is SMPL's parameters per frame: global_orient [F, 3], body_pose [F, 23, 3] (axis-angle of
each joint relative to its parent) and transl [F, 3]; joints come from the rest joint positions of the body
model (models/body_model.py: y up, facing +z, left on +x, metres). Joint limits are boxes on the axis-angle
components, with one-sided hinges at knees and elbows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from physflow.models.body_model import JOINT_NAMES, PARENTS, rest_joints

# (lower, upper) per axis-angle component (x, y, z) in radians, for joints 1..23; unnamed joints use _DEFAULT.
_DEFAULT = ((-0.6, 0.6), (-0.6, 0.6), (-0.6, 0.6))
_LIMITS: dict[str, tuple[tuple[float, float], ...]] = {
    "left_hip": ((-2.2, 0.8), (-0.8, 0.8), (-0.8, 0.8)),
    "right_hip": ((-2.2, 0.8), (-0.8, 0.8), (-0.8, 0.8)),
    "left_knee": ((0.0, 2.6), (-0.15, 0.15), (-0.15, 0.15)),  # +x bends the shin backwards
    "right_knee": ((0.0, 2.6), (-0.15, 0.15), (-0.15, 0.15)),
    "left_elbow": ((-0.15, 0.15), (-2.6, 0.0), (-0.15, 0.15)),  # -y bends the left forearm forwards
    "right_elbow": ((-0.15, 0.15), (0.0, 2.6), (-0.15, 0.15)),
    "left_shoulder": ((-1.5, 1.5), (-1.5, 1.5), (-1.5, 1.5)),
    "right_shoulder": ((-1.5, 1.5), (-1.5, 1.5), (-1.5, 1.5)),
    "left_wrist": ((-1.0, 1.0), (-1.0, 1.0), (-1.0, 1.0)),
    "right_wrist": ((-1.0, 1.0), (-1.0, 1.0), (-1.0, 1.0)),
    "left_collar": ((-0.4, 0.4), (-0.4, 0.4), (-0.4, 0.4)),
    "right_collar": ((-0.4, 0.4), (-0.4, 0.4), (-0.4, 0.4)),
    "left_hand": ((-0.3, 0.3), (-0.3, 0.3), (-0.3, 0.3)),
    "right_hand": ((-0.3, 0.3), (-0.3, 0.3), (-0.3, 0.3)),
}
FOOT_JOINTS = tuple(JOINT_NAMES.index(n) for n in ("left_ankle", "right_ankle", "left_foot", "right_foot"))


def joint_limits() -> torch.Tensor:
    """[23, 3, 2] lower and upper bound of each body_pose axis-angle component."""
    rows = [_LIMITS.get(name, _DEFAULT) for name in JOINT_NAMES[1:]]
    return torch.tensor(np.array(rows), dtype=torch.float32)


def rodrigues(aa: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [..., 3, 3] of axis-angle vectors [..., 3] (smooth at 0)."""
    theta2 = (aa * aa).sum(-1, keepdim=True)  # [..., 1]
    theta = torch.sqrt(theta2 + 1e-12)
    k = aa / theta  # [..., 3]
    kx, ky, kz = k.unbind(-1)
    zero = torch.zeros_like(kx)
    cross = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], -1).reshape(*aa.shape[:-1], 3, 3)
    sin, cos = torch.sin(theta)[..., None], torch.cos(theta)[..., None]  # [..., 1, 1]
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand(cross.shape)
    return eye + sin * cross + (1 - cos) * (cross @ cross)


@dataclass(frozen=True)
class Skeleton:
    """Rest joints [J, 3] and parent indices of a kinematic tree."""

    rest: torch.Tensor
    parents: tuple[int, ...]

    @classmethod
    def smpl(cls) -> Skeleton:
        return cls(torch.tensor(rest_joints(), dtype=torch.float32), PARENTS)

    def joints(self, global_orient: torch.Tensor, body_pose: torch.Tensor, transl: torch.Tensor) -> torch.Tensor:
        """World joints [F, J, 3] from global_orient [F, 3], body_pose [F, J-1, 3], transl [F, 3]."""
        rots = rodrigues(torch.cat([global_orient[:, None], body_pose], 1))  # [F, J, 3, 3]
        world_r: list[torch.Tensor] = []
        world_p: list[torch.Tensor] = []
        for j, parent in enumerate(self.parents):
            if parent < 0:
                world_r.append(rots[:, 0])
                world_p.append(self.rest[0].expand_as(transl) + transl)
                continue
            offset = self.rest[j] - self.rest[parent]  # [3]
            world_p.append(world_p[parent] + world_r[parent] @ offset)
            world_r.append(world_r[parent] @ rots[:, j])
        return torch.stack(world_p, 1)


def limit_excess(body_pose: torch.Tensor, limits: torch.Tensor) -> torch.Tensor:
    """How far (rad) each axis-angle component of body_pose [F, 23, 3] lies outside its limits [23, 3, 2]."""
    return torch.relu(limits[..., 0] - body_pose) + torch.relu(body_pose - limits[..., 1])

