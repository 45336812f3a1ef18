"""Hand terms of an SMPL-X fit: the 21 hand landmarks of a hand landmarker (MediaPipe order) as smplx keypoints.

MediaPipe's 21 points are the wrist, then per finger (thumb, index, middle, ring, pinky) four points from the
palm out: for the thumb CMC, MCP, IP and tip, for the others MCP, PIP, DIP and tip. SMPL-X has the wrist, three
joints per finger in the same places, and a finger-tip vertex smplx appends as a keypoint, so the two line up
point for point. Terms, per frame and hand:
- robust (Geman-McClure) reprojection of the 21 points, weighted by the hand's presence;
- finger shape from the 3D world landmarks: the hand's pairwise point distances, each set divided by its mean
  (scale- and rotation-free), against the landmarks' — what the curl of each finger does to the hand's shape;
- a prior on the hand pose, and the fingers bending only towards the palm (flexion limit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from physflow.models.smplify import project

# Per MediaPipe finger (thumb, index, middle, ring, pinky): smplx's finger chain (index, middle, pinky, ring,
# thumb order of its joints) and the finger's rank in smplx's tip keypoints (thumb, index, middle, ring, pinky).
_CHAIN = {"thumb": 4, "index": 0, "middle": 1, "ring": 3, "pinky": 2}
_TIP_RANK = {"thumb": 0, "index": 1, "middle": 2, "ring": 3, "pinky": 4}
_MP_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
_WRIST = {"left": 20, "right": 21}
_FIRST_FINGER_JOINT = {"left": 25, "right": 40}
N_HAND_POSE = 45


def has_hands(model) -> bool:  # type: ignore[no-untyped-def]
    """Whether an smplx model has articulated hands (SMPL-X: 55 joints and finger-tip keypoints)."""
    return hasattr(model, "left_hand_pose") and model.J_regressor.shape[0] >= 55


def hand_keypoint_index(model, side: str) -> list[int]:  # type: ignore[no-untyped-def]
    """The 21 indices into an SMPL-X keypoint set (KeypointModel's output) of one hand, in MediaPipe order."""
    n_joints = model.J_regressor.shape[0]
    tips_from = n_joints + len(model.vertex_joint_selector.extra_joints_idxs) - 10  # tips are smplx's last 10
    first = _FIRST_FINGER_JOINT[side]
    out = [_WRIST[side]]
    for finger in _MP_FINGERS:
        chain = first + 3 * _CHAIN[finger]
        out += [chain, chain + 1, chain + 2, tips_from + (0 if side == "left" else 5) + _TIP_RANK[finger]]
    return out


# Flexion axis sign per side: the procedural and SMPL-X hands lie palm down along +x (left) / -x (right) in the
# rest pose, so curling a finger towards the palm is a rotation about z, negative for the left hand.
_FLEX_SIGN = {"left": -1.0, "right": 1.0}


@dataclass(frozen=True)
class HandSettings:
    w_reproj: float = 1.0  # weight of the hand keypoints' reprojection next to the body's
    robust_px: float = 30.0  # Geman-McClure scale of a hand keypoint's residual, pixels
    w_world: float = 200.0  # weight of the scale-free finger shape against the world landmarks
    w_pose: float = 0.5  # squared hand axis-angle
    w_limits: float = 50.0  # fingers bending backwards
    w_smooth: float = 5.0  # frame-to-frame change of hand pose


def _pairwise(points: torch.Tensor) -> torch.Tensor:
    """(..., 21, 3) -> (..., 21, 21) distances divided by their mean (the shape, not the size)."""
    d = torch.cdist(points, points)
    return d / d.mean((-1, -2), keepdim=True).clamp(min=1e-6)


class HandTerms:
    """The per-frame hand loss of an SMPL-X fit, for both hands.

    `pixels` (T, 2, 21, 3): x, y and presence of the left and right hand (presence 0 where absent);
    `world` (T, 2, 21, 3) world landmarks in metres, NaN where absent (then only the 2D term applies).
    """

    def __init__(self, model, pixels: np.ndarray, world: np.ndarray | None, camera: torch.Tensor,  # type: ignore[no-untyped-def]
                 *, settings: HandSettings, device: torch.device):
        self.s, self.camera = settings, camera
        self.index = [hand_keypoint_index(model, side) for side in ("left", "right")]
        px = torch.tensor(np.asarray(pixels, np.float64), dtype=torch.float32, device=device)
        self.target, self.conf = px[..., :2], px[..., 2].clamp(0, 1)
        self.world_ok = torch.zeros(px.shape[:2], dtype=torch.bool, device=device)
        self.world_shape = torch.zeros((*px.shape[:2], 21, 21), device=device)
        if world is not None:
            w = torch.tensor(np.asarray(world, np.float64), dtype=torch.float32, device=device)
            self.world_ok = torch.isfinite(w).all(-1).all(-1) & (self.conf.amax(-1) > 0)
            self.world_shape = _pairwise(torch.nan_to_num(w))

    def __call__(self, keypoints: torch.Tensor, hands: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-frame loss (T,), temporal smoothness ()) for keypoints (T, K, 3) and hand poses (T, 90)."""
        s = self.s
        points = torch.stack([keypoints[:, i] for i in self.index], dim=1)  # (T, 2, 21, 3)
        sq = ((project(points, self.camera) - self.target) ** 2).sum(-1)
        data = s.w_reproj * (self.conf * s.robust_px**2 * sq / (sq + s.robust_px**2)).sum((-1, -2))
        shape = ((_pairwise(points) - self.world_shape) ** 2).sum((-1, -2))
        world = s.w_world * (shape * self.world_ok).sum(-1)
        pose = hands.view(len(hands), 2, 15, 3)
        flex = torch.tensor([_FLEX_SIGN["left"], _FLEX_SIGN["right"]], device=hands.device)[None, :, None]
        fingers = torch.ones(15, device=hands.device)
        fingers[12:] = 0.0  # the thumb's axes differ: prior only
        bent_back = torch.relu(-flex * pose[..., 2]) * fingers  # rotation about z away from the palm
        prior = s.w_pose * (hands**2).sum(-1) + s.w_limits * (bent_back**2).sum((-1, -2))
        smooth = s.w_smooth * ((hands[1:] - hands[:-1]) ** 2).sum() if len(hands) > 1 else hands.sum() * 0
        return data + world + prior, smooth

    def reproj_px(self, keypoints: torch.Tensor) -> torch.Tensor:
        """(T, 2) mean pixel error per hand over its present points (NaN where the hand is absent)."""
        points = torch.stack([keypoints[:, i] for i in self.index], dim=1)
        err = (project(points, self.camera) - self.target).norm(dim=-1)
        seen = self.conf > 0
        out = (err * seen).sum(-1) / seen.sum(-1).clamp(min=1)
        return torch.where(seen.any(-1), out, torch.full_like(out, float("nan")))
