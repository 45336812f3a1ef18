"""SMPLify-style fitting of an smplx body model (SMPL or SMPL-X) to a 2D keypoint track.

A pinhole camera at the origin looking down +z (image y down), focal length from the frame size, principal
point at the centre. Per frame: global orientation, body pose and translation; per track: one shape.
Loss: confidence-weighted robust (Geman-McClure) reprojection error of the COCO-17 keypoints, a shape prior,
a pose prior, joint limits on elbows and knees (they bend one way), and temporal smoothness of joints and
pose. Two phases, batched over every frame of the track: (1) orientation and translation from the torso
keypoints, (2) everything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

# COCO-17 keypoints as smplx output joints: body joints by SMPL index, face points from the vertex
# joints smplx appends after the body joints (nose, right eye, left eye, right ear, left ear).
_COCO_BODY = (16, 17, 18, 19, 20, 21, 1, 2, 4, 5, 7, 8)  # shoulders, elbows, wrists, hips, knees, ankles
_COCO_FACE = (0, 2, 1, 4, 3)  # nose, left eye, right eye, left ear, right ear (offsets after body joints)
_TORSO = (5, 6, 11, 12)  # COCO indices of the shoulders and hips
# Joint limits (SMPLify): body_pose entries that must not go past zero in the given direction.
_LIMITS = ((3 * 17 + 1, 1.0), (3 * 18 + 1, -1.0), (3 * 3 + 0, -1.0), (3 * 4 + 0, -1.0))  # l/r elbow y, l/r knee x


def coco17_joint_index(n_body_joints: int) -> list[int]:
    """Indices into smplx's output joints of the 17 COCO keypoints, for a model with `n_body_joints` joints."""
    return [n_body_joints + k for k in _COCO_FACE] + list(_COCO_BODY)


@dataclass(frozen=True)
class FitSettings:
    focal_scale: float = 1.0  # focal length = focal_scale * image diagonal, in pixels
    iters_camera: int = 60
    iters_full: int = 200
    lr: float = 0.05
    robust_px: float = 100.0  # Geman-McClure scale of the reprojection residual
    w_pose: float = 1.0
    w_shape: float = 2.0
    w_limits: float = 300.0
    w_smooth: float = 500.0
    w_world: float = 1000.0  # 3D joints against given 3D targets (metres^2), up to a root translation
    iters_hands: int = 100  # Adam steps of the last phase, hands included (SMPL-X with hand keypoints only)
    device: str = "cpu"
    threads: int = 1  # torch CPU threads while fitting (small batched ops are fastest single-threaded)


@dataclass(frozen=True)
class WorldTargets:
    """3D targets for some of the model's keypoints: `index` into KeypointModel's output, `points` (T, N, 3) in
    camera axes (metres, any origin), `weight` (T, N) (e.g. the pose model's visibility; 0 = no target)."""

    index: list[int]
    points: np.ndarray
    weight: np.ndarray

    def term(self, device: torch.device):  # type: ignore[no-untyped-def]
        """A function of (T, K, 3) keypoints giving the (T,) weighted squared 3D error about the centroids."""
        target = torch.tensor(np.nan_to_num(self.points), dtype=torch.float32, device=device)
        w = torch.tensor(np.where(np.isfinite(self.points).all(-1), self.weight, 0.0), dtype=torch.float32,
                         device=device).clamp(0, 1)
        norm = w.sum(-1, keepdim=True).clamp(min=1e-6)

        def centred(points: torch.Tensor) -> torch.Tensor:
            return points - ((w[..., None] * points).sum(1, keepdim=True) / norm[..., None])

        goal = centred(target)
        return lambda keypoints: (w * ((centred(keypoints[:, self.index]) - goal) ** 2).sum(-1)).sum(-1)


@dataclass
class FitResult:
    betas: np.ndarray  # (B,)
    global_orient: np.ndarray  # (T, 3)
    body_pose: np.ndarray  # (T, 3 * body joints)
    transl: np.ndarray  # (T, 3)
    camera: np.ndarray  # (5,) focal, cx, cy, width, height
    loss: np.ndarray  # (T,) final loss per frame
    reproj_px: np.ndarray  # (T,) mean reprojection error (px) over confident keypoints
    joints: np.ndarray  # (T, J + E, 3) fitted body joints and smplx's extra keypoints in camera space (metres)
    left_hand_pose: np.ndarray | None = None  # (T, 45) SMPL-X hand poses, when hands were fitted
    right_hand_pose: np.ndarray | None = None
    hand_reproj_px: np.ndarray | None = None  # (T, 2) mean pixel error of the left / right hand (NaN: no hand)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with `n` torch CPU threads (small batched ops are fastest on one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def camera_for(width: int, height: int, focal_scale: float = 1.0) -> np.ndarray:
    return np.array([focal_scale * float(np.hypot(width, height)), width / 2, height / 2, width, height])


def project(points: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """(..., 3) camera-space points to (..., 2) pixels."""
    z = points[..., 2:3].clamp(min=1e-3)
    return camera[0] * points[..., :2] / z + camera[1:3]


def body_forward(model, betas, global_orient, body_pose, transl, *, left_hand_pose=None, right_hand_pose=None):  # type: ignore[no-untyped-def]
    """The smplx model over a batch of frames; SMPL-X's face and eye poses stay at rest (zeros), its hand poses
    too unless given ((T, 45) each, smplx's full hand-pose space)."""
    n = global_orient.shape[0]
    extra = {}
    if hasattr(model, "jaw_pose"):  # SMPL-X: every pose input needs the batch size
        z = lambda k: torch.zeros(n, k, dtype=global_orient.dtype, device=global_orient.device)  # noqa: E731
        extra = {"jaw_pose": z(3), "leye_pose": z(3), "reye_pose": z(3), "expression": z(model.num_expression_coeffs),
                 "left_hand_pose": z(model.left_hand_pose.shape[1]) if left_hand_pose is None else left_hand_pose,
                 "right_hand_pose": z(model.right_hand_pose.shape[1]) if right_hand_pose is None else right_hand_pose}
    betas = betas if betas.shape[0] == n else betas.expand(n, -1)
    return model(betas=betas, global_orient=global_orient, body_pose=body_pose, transl=transl, **extra)


class KeypointModel:
    """The body joints and the keypoint vertices smplx appends (face, feet, finger tips) of an smplx model,
    without posing the whole mesh.

    Joints need only the rest vertices the joint regressor reads; the keypoint vertices are a few skinned
    vertices. Same numbers as the model's forward (a test checks it), several times faster for big meshes.
    Output: (T, J + E, 3) camera-space points, body joints then smplx's extra keypoints in its order (nose,
    right eye, left eye, right ear, left ear, then feet and finger tips when the model has them).
    """

    def __init__(self, model):  # type: ignore[no-untyped-def]
        reg = model.J_regressor
        extra = model.vertex_joint_selector.extra_joints_idxs
        idx = torch.unique(torch.cat([torch.nonzero(reg.abs().sum(0)).flatten(), extra]))
        self.extra_pos = torch.searchsorted(idx, extra)
        n_pose = model.posedirs.shape[0]
        self.v_template, self.shapedirs = model.v_template[idx], model.shapedirs[idx]
        self.posedirs = model.posedirs.view(n_pose, -1, 3)[:, idx].reshape(n_pose, -1)
        self.regressor, self.parents = reg[:, idx], model.parents
        self.extra_weights = model.lbs_weights[extra]
        self.pose_mean = getattr(model, "pose_mean", None)
        self.n_joints = reg.shape[0]

    def __call__(self, betas: torch.Tensor, global_orient: torch.Tensor, body_pose: torch.Tensor,
                 transl: torch.Tensor, hands: torch.Tensor | None = None) -> torch.Tensor:
        """`hands` (T, 90): SMPL-X's left then right hand pose (the last 30 joints), else at rest."""
        from smplx.lbs import batch_rigid_transform, batch_rodrigues, blend_shapes

        n = global_orient.shape[0]
        n_rest = 3 * self.n_joints - 3 - body_pose.shape[1] - (0 if hands is None else hands.shape[1])
        rest = torch.zeros(n, n_rest, dtype=body_pose.dtype, device=body_pose.device)
        full = torch.cat([global_orient, body_pose, rest] + ([] if hands is None else [hands]), dim=1)
        if self.pose_mean is not None:
            full = full + self.pose_mean
        v_shaped = self.v_template + blend_shapes(betas.expand(n, -1), self.shapedirs)  # (T, n, 3)
        joints = torch.einsum("jv,tvk->tjk", self.regressor, v_shaped)
        rots = batch_rodrigues(full.reshape(-1, 3)).view(n, -1, 3, 3)
        eye = torch.eye(3, dtype=rots.dtype, device=rots.device)
        offsets = ((rots[:, 1:] - eye).reshape(n, -1) @ self.posedirs).view(n, -1, 3)
        posed_joints, transforms = batch_rigid_transform(rots, joints, self.parents)
        extra = (v_shaped + offsets)[:, self.extra_pos]  # (T, E, 3)
        skin = (self.extra_weights @ transforms.view(n, self.n_joints, 16)).view(n, -1, 4, 4)
        extra = (skin[..., :3, :3] @ extra[..., None])[..., 0] + skin[..., :3, 3]
        return torch.cat([posed_joints, extra], dim=1) + transl[:, None]


def _initial_orient(kps: np.ndarray) -> np.ndarray:
    """(T, 3) axis-angle: upright in the camera (SMPL y up -> image y down), facing it or turned away."""
    facing = np.where(kps[:, 5, 0] >= kps[:, 6, 0], 1.0, -1.0)  # left shoulder right of the right one: facing
    out = np.zeros((len(kps), 3))
    out[facing > 0] = [np.pi, 0.0, 0.0]
    out[facing < 0] = [0.0, 0.0, np.pi]  # pi about x, then pi about the vertical
    return out


def _initial_transl(model, kps: np.ndarray, camera: np.ndarray, orient: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Place the rest body so its torso has the keypoints' pixel size and centre."""
    with torch.no_grad():
        rest = model(betas=torch.zeros(1, model.num_betas)).joints[0].numpy()
    idx = coco17_joint_index(model.J_regressor.shape[0])
    torso3d = rest[[idx[i] for i in _TORSO]]
    length3d = np.linalg.norm(torso3d[:2].mean(0) - torso3d[2:].mean(0))
    out = np.zeros((len(kps), 3))
    root = rest[0]
    for t, frame in enumerate(kps):
        pts = frame[list(_TORSO)]
        ok = pts[:, 2] > 0.1
        if ok.sum() >= 2 and ok[:2].any() and ok[2:].any():
            length_px = np.linalg.norm(pts[:2][ok[:2], :2].mean(0) - pts[2:][ok[2:], :2].mean(0))
            centre = pts[ok, :2].mean(0)
        else:
            seen = frame[frame[:, 2] > 0.1, :2]
            centre = seen.mean(0) if len(seen) else camera[1:3]
            length_px = max(np.ptp(seen[:, 1]) / 3, 10.0) if len(seen) > 1 else camera[4] / 4
        z = camera[0] * length3d / max(length_px, 1.0)
        target = np.array([(centre[0] - camera[1]) * z / camera[0], (centre[1] - camera[2]) * z / camera[0], z])
        rot = torch.from_numpy(orient[t]).float()
        from smplx.lbs import batch_rodrigues

        r = batch_rodrigues(rot[None])[0].numpy()
        out[t] = target - (r @ (torso3d.mean(0) - root) + root)
    return out


def fit_track(model, keypoints: np.ndarray, width: int, height: int, settings: FitSettings | None = None,  # type: ignore[no-untyped-def]
              *, orient: np.ndarray | None = None, hands: np.ndarray | None = None,
              hands_world: np.ndarray | None = None, hand_settings=None,  # type: ignore[no-untyped-def]
              world: WorldTargets | None = None) -> FitResult:
    """Fit one person's keypoint track (T, 17, 3: x, y, confidence in pixels) with `model` (an smplx model);
    `orient` (T, 3) axis-angle starts the global orientation (e.g. from a pose model's 3D landmarks) instead of
    the upright facing-or-not guess from the shoulders. With an SMPL-X model, `hands` (T, 2, 21, 3: x, y,
    presence of the left and right hand's landmarks) and `hands_world` (T, 2, 21, 3 metres, NaN where absent)
    add a last phase that fits both hand poses too (models/hand_fit.py). `world` adds a 3D term: the body's
    joints against a pose model's 3D joints, each set about its weighted centroid (so up to a translation)."""
    from physflow.models.hand_fit import HandSettings, has_hands

    s = settings or FitSettings()
    if hands is not None and not has_hands(model):
        hands = None  # SMPL: no finger joints to fit
    with torch_threads(s.threads):
        return _fit(model, keypoints, width, height, s, orient=orient, hands=hands, hands_world=hands_world,
                    hand_settings=hand_settings or HandSettings(), world=world)


def _optimise(p: dict[str, torch.Tensor], names: tuple[str, ...], iters: int, lr: float, losses) -> None:  # type: ignore[no-untyped-def]
    """Adam on the parameters `names` of `p` (replaced in place by their detached results)."""
    params = [p[k].requires_grad_(True) for k in names]
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(iters):
        opt.zero_grad()
        per_frame, smooth, _ = losses()
        (per_frame.sum() + smooth).backward()
        opt.step()
    for k in names:
        p[k] = p[k].detach()


def _fit(model, keypoints: np.ndarray, width: int, height: int, s: FitSettings,  # type: ignore[no-untyped-def]
         *, orient: np.ndarray | None, hands: np.ndarray | None, hands_world: np.ndarray | None,
         hand_settings, world: WorldTargets | None) -> FitResult:  # type: ignore[no-untyped-def]
    from physflow.models.hand_fit import N_HAND_POSE, HandTerms

    kps = np.asarray(keypoints, np.float64)
    n_frames, dev = len(kps), torch.device(s.device)
    cam_np = camera_for(width, height, s.focal_scale)
    cam = torch.tensor(cam_np, dtype=torch.float32, device=dev)
    target = torch.tensor(kps[..., :2], dtype=torch.float32, device=dev)
    conf = torch.tensor(kps[..., 2], dtype=torch.float32, device=dev).clamp(0, 1)
    idx = coco17_joint_index(model.J_regressor.shape[0])
    keypoint_model = KeypointModel(model)
    orient0 = _initial_orient(kps) if orient is None else np.asarray(orient, np.float64)
    p = {
        "betas": torch.zeros(1, model.num_betas, device=dev),
        "global_orient": torch.tensor(orient0, dtype=torch.float32, device=dev),
        "body_pose": torch.zeros(n_frames, model.NUM_BODY_JOINTS * 3, device=dev),
        "transl": torch.tensor(_initial_transl(model, kps, cam_np, orient0), dtype=torch.float32, device=dev),
    }
    hand_terms = None
    if hands is not None:
        hand_terms = HandTerms(model, hands, hands_world, cam, settings=hand_settings, device=dev)
        p["hands"] = torch.zeros(n_frames, 2 * N_HAND_POSE, device=dev)
    torso = torch.zeros(17, device=dev)
    torso[list(_TORSO)] = 1.0
    world_term = None if world is None or s.w_world <= 0 else world.term(dev)

    def losses(joint_weight: torch.Tensor, with_hands: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        joints = keypoint_model(p["betas"], p["global_orient"], p["body_pose"], p["transl"], p.get("hands"))
        pix = project(joints[:, idx], cam)
        sq = ((pix - target) ** 2).sum(-1)
        robust = s.robust_px**2 * sq / (sq + s.robust_px**2)
        data = (conf * joint_weight * robust).sum(-1)  # (T,)
        prior = s.w_pose * (p["body_pose"] ** 2).sum(-1) + s.w_shape * (p["betas"] ** 2).sum() / n_frames
        limits = sum(torch.relu(sign * p["body_pose"][:, i]) ** 2 for i, sign in _LIMITS)
        per_frame = data + prior + s.w_limits * limits
        if world_term is not None:
            per_frame = per_frame + s.w_world * world_term(joints)
        smooth = torch.zeros((), device=dev)
        if n_frames > 1:
            smooth = s.w_smooth * (((joints[1:, :24] - joints[:-1, :24]) ** 2).sum((-1, -2)).sum()
                                   + 0.1 * ((p["body_pose"][1:] - p["body_pose"][:-1]) ** 2).sum())
        if with_hands and hand_terms is not None:
            hand_frame, hand_smooth = hand_terms(joints, p["hands"])
            per_frame, smooth = per_frame + hand_frame, smooth + hand_smooth
        return per_frame, smooth, sq

    everything = ("betas", "global_orient", "body_pose", "transl")
    phases = [(("global_orient", "transl"), s.iters_camera, torso, False),
              (everything, s.iters_full, torch.ones(17, device=dev), False)]
    if hand_terms is not None:  # the body first, then hands and wrists with it (betas kept)
        phases.append((("global_orient", "body_pose", "transl", "hands"), s.iters_hands, torch.ones(17, device=dev),
                       True))
    for names, iters, weight, with_hands in phases:
        _optimise(p, names, iters, s.lr, lambda w=weight, h=with_hands: losses(w, h))
    with torch.no_grad():
        per_frame, _, sq = losses(torch.ones(17, device=dev), True)
        seen = conf > 0.1
        reproj = (sq.sqrt() * seen).sum(-1) / seen.sum(-1).clamp(min=1)
        joints = keypoint_model(p["betas"], p["global_orient"], p["body_pose"], p["transl"], p.get("hands"))
    hand_pose = p["hands"].cpu().numpy() if hand_terms is not None else None
    return FitResult(
        betas=p["betas"][0].cpu().numpy(), global_orient=p["global_orient"].cpu().numpy(),
        body_pose=p["body_pose"].cpu().numpy(), transl=p["transl"].cpu().numpy(), camera=cam_np,
        loss=per_frame.cpu().numpy(), reproj_px=reproj.cpu().numpy(), joints=joints.cpu().numpy(),
        left_hand_pose=None if hand_pose is None else hand_pose[:, :N_HAND_POSE],
        right_hand_pose=None if hand_pose is None else hand_pose[:, N_HAND_POSE:],
        hand_reproj_px=None if hand_terms is None else hand_terms.reproj_px(joints).cpu().numpy(),
    )
