"""Bodies in phase 2: body_fit rows -> SMPL pose sequences in a y-up world -> optimised -> pixels.

The body_fit stage fits SMPL in the camera frame of the video (pinhole at the origin, x right, y down,
z forward; `camera` = focal, cx, cy in pixels). Phase 2 optimises in a y-up world: the same points rotated
by pi about x (x right, y up, z towards the viewer), so gravity is -y. For SMPL, whose joints come from
rotations about the root joint J0, that rotation R gives global_orient' = R . global_orient and
transl' = R (J0 + transl) - J0. The camera is assumed level, so the ground is a plane y = const, placed at
a low percentile of the fitted feet heights (most frames stand on it; the lowest ones sink into it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import cv2
import numpy as np
import pyarrow as pa
import torch

from physflow.models.body_model import N_JOINTS, PARENTS
from physflow.models.physics_prior import TemporalPrior
from physflow.stages.common.prior import metrics
from physflow.stages.common.prior.config import PriorConfig
from physflow.stages.common.prior.optimise import PriorResult, optimise_body
from physflow.stages.common.prior.skeleton import FOOT_JOINTS, Skeleton, joint_limits

FLIP = np.diag([1.0, -1.0, -1.0])  # camera frame <-> y-up world (its own inverse)
SMPL_POSE = 3 * (N_JOINTS - 1)  # body_pose values of an SMPL fit
GROUND_PERCENTILE = 10.0


@dataclass
class BodyTrack:
    """One person's fitted sequence over frames first..last of the video, in the y-up world."""

    track_id: int
    frames: np.ndarray  # [T] frame indices of the video
    seen: np.ndarray  # [T] bool: fitted at that frame (else interpolated)
    params: dict[str, np.ndarray]  # global_orient [T, 3], body_pose [T, 23, 3], transl [T, 3]
    rest: np.ndarray  # [24, 3] rest joints of the fitted shape
    camera: np.ndarray  # focal, cx, cy (pixels)

    def skeleton(self) -> Skeleton:
        return Skeleton(torch.as_tensor(self.rest, dtype=torch.float32), PARENTS)

    def joints(self) -> np.ndarray:
        """[T, 24, 3] world joints of the fitted (interpolated) parameters."""
        p = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in self.params.items()}
        with torch.no_grad():
            return self.skeleton().joints(p["global_orient"], p["body_pose"], p["transl"]).numpy().astype(np.float64)


@dataclass
class BodyResult:
    track: BodyTrack
    fitted: np.ndarray  # [T, 24, 3] joints of the fits (interpolated between them), world
    result: PriorResult  # the optimised sequence: joints in `positions`, SMPL parameters in `params`
    ground_y: float
    measures: dict[str, float] = field(default_factory=dict)


def _aa_to_mat(aa: np.ndarray) -> np.ndarray:
    return cv2.Rodrigues(np.asarray(aa, np.float64).reshape(3, 1))[0]


def _mat_to_aa(mat: np.ndarray) -> np.ndarray:
    return cv2.Rodrigues(np.asarray(mat, np.float64))[0].ravel()


def camera_to_world(global_orient: np.ndarray, transl: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SMPL global_orient [T, 3] and transl [T, 3] of the camera frame, in the y-up world (root: J0 [3])."""
    orient = np.stack([_mat_to_aa(FLIP @ _aa_to_mat(g)) for g in global_orient])
    return orient, (root + transl) @ FLIP.T - root


def world_to_pixels(points: np.ndarray, camera: np.ndarray) -> np.ndarray:
    """World points [..., 3] -> pixels [..., 2] of the fit's pinhole camera (nan behind it)."""
    cam = points @ FLIP.T
    z = cam[..., 2:3]
    px = camera[0] * cam[..., :2] / np.where(z > 1e-3, z, np.nan) + camera[1:3]
    return px


def rest_joints(model, betas: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """SMPL rest joints [24, 3] (m) of an smplx body model for shape `betas`."""
    with torch.no_grad():
        out = model(betas=torch.as_tensor(betas, dtype=torch.float32).reshape(1, -1))
    return out.joints[0, :N_JOINTS].numpy().astype(np.float64)


def body_tracks(fits: pa.Table, model, *, min_frames: int,  # type: ignore[no-untyped-def]
                n_frames: int) -> tuple[list[BodyTrack], dict[str, int]]:
    """The body_fit rows of one video as world sequences, one per track fitted in >= min_frames frames, with
    the rest joints of `model` (the smplx model the fits were made with); and why other tracks were left out
    (reason -> tracks)."""
    grouped: dict[int, list[dict]] = defaultdict(list)
    for row in fits.to_pylist():
        if not row.get("error") and row["frame"] < n_frames:
            grouped[row["track_id"]].append(row)
    tracks, skipped = [], defaultdict(int)
    for track_id, rows in sorted(grouped.items()):
        rows.sort(key=lambda r: r["frame"])
        if len(rows[0]["body_pose"]) != SMPL_POSE:
            skipped["not an SMPL fit (phase 2 optimises SMPL bodies)"] += 1
            continue
        if len(rows) < min_frames:
            skipped[f"fitted in fewer than {min_frames} frames"] += 1
            continue
        tracks.append(_track(track_id, rows, rest_joints(model, np.array(rows[0]["betas"]))))
    return tracks, dict(skipped)


def _track(track_id: int, rows: list[dict], rest: np.ndarray) -> BodyTrack:
    fitted = np.array([r["frame"] for r in rows])
    frames = np.arange(fitted[0], fitted[-1] + 1)

    def series(name: str) -> np.ndarray:  # interpolated over the frames between fits
        values = np.array([r[name] for r in rows], np.float64)
        return np.stack([np.interp(frames, fitted, values[:, k]) for k in range(values.shape[1])], 1)

    orient, transl = camera_to_world(series("global_orient"), series("transl"), rest[0])
    params = {"global_orient": orient, "body_pose": series("body_pose").reshape(len(frames), 23, 3),
              "transl": transl}
    return BodyTrack(track_id, frames, np.isin(frames, fitted), params, rest, np.array(rows[0]["camera"][:3]))


def body_measures(joints: np.ndarray, body_pose: np.ndarray, ground_y: float, fps: float, prefix: str) -> dict[str, float]:
    """Penetration of the ground, jitter of the joints and joint-limit excess of one body, keys prefixed."""
    out = {
        "penetration_m": metrics.penetration_depth(joints[..., 1] - ground_y),
        "jitter_m_s3": metrics.jitter(joints, fps),
        "joint_limit_rad": metrics.limit_violation(body_pose, joint_limits().numpy()),
    }
    return {f"{prefix}body_{k}": round(v, 6) for k, v in out.items() if np.isfinite(v)}


def optimise_track(track: BodyTrack, config: PriorConfig, *, intensity: float = 1.0,
                   prior: TemporalPrior | None = None) -> BodyResult:
    """Optimise one body under the physical prior, seeded from and held to its fits (interpolated frames
    carry no data weight)."""
    fitted = track.joints()
    feet = fitted[:, list(FOOT_JOINTS), 1].min(1)  # [T] lowest foot point per frame
    ground = float(np.percentile(feet[track.seen], GROUND_PERCENTILE))
    cfg = config.model_copy(update={"ground_y": ground})
    conf = np.repeat(track.seen.astype(np.float32)[:, None], fitted.shape[1], 1)
    result = optimise_body(track.params, fitted, conf, cfg, skeleton=track.skeleton(), intensity=intensity,
                           prior=prior)
    measures = {**body_measures(fitted, track.params["body_pose"], ground, config.fps, "extracted_"),
                **body_measures(result.positions, result.params["body_pose"], ground, config.fps, "optimised_")}
    return BodyResult(track, fitted, result, ground, measures)
