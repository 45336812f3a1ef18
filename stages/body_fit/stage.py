"""body_fit: SMPLify-style fits of SMPL or SMPL-X to each person's keypoint track (`body_fits`).

One fit per (clip, track), batched over the track's frames (models/smplify.py); a row per fitted frame.
Without a registered body model the stage builds physflow's procedural body, in the file format of the chosen
family (SMPL pickle or SMPL-X npz), once, in setup.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from physflow.data_catalog.schemas import BODY_FITS
from physflow.stages.base import Stage
from physflow.stages.body_fit.config import BodyFitConfig
from physflow.stages.common.annotation import HANDS_ONLY, AnnotatedShard, ClipWork, clip_error, clip_items

PROCEDURAL = "procedural"


class BodyFitStage(Stage[BodyFitConfig, ClipWork]):
    name = "body_fit"
    # 2: orientation started from the pose rows' world landmarks; 3: SMPL-X hand poses, a 3D term against the
    # world landmarks
    VERSION = 3
    Config = BodyFitConfig
    table = BODY_FITS
    input_columns = ("clip_id", "frame", "track_id", "keypoints")  # world landmarks and hands when present

    def __init__(self, config: BodyFitConfig):
        super().__init__(config)
        self.model: Any = None

    def setup(self) -> None:
        from physflow.models.body_model import open_body_model

        path = self.config.body_model.path if self.config.body_model else None
        self.model = open_body_model(path, self.config.model, num_betas=self.config.num_betas)

    @property
    def model_label(self) -> str:
        return self.config.model if self.config.body_model else f"{self.config.model}-{PROCEDURAL}"

    def items(self, inputs: Sequence[AnnotatedShard]) -> Sequence[ClipWork]:
        return clip_items(inputs)

    def process(self, item: ClipWork) -> Iterable[dict[str, Any]]:
        from physflow.models.smplify import FitSettings, fit_track
        from physflow.stages.body_fit.hand_inputs import hand_arrays
        from physflow.stages.body_fit.world_init import orientations, world_targets

        c, clip = self.config, item.clip
        tracks: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in item.rows.get("poses", []):
            if row.get("source") != HANDS_ONLY:  # a hand without a body has nothing to fit a body to
                tracks[row["track_id"]].append(row)
        if not tracks:
            return clip_error(clip, "no keypoints to fit (no pose rows for this clip)")
        settings = FitSettings(
            focal_scale=c.focal_scale, iters_camera=c.iters_camera, iters_full=c.iters_full, lr=c.lr,
            w_pose=c.w_pose, w_shape=c.w_shape, w_limits=c.w_limits, w_smooth=c.w_smooth, device=c.device,
            threads=c.threads, iters_hands=c.iters_hands, w_world=c.w_world,
        )
        rows: list[dict[str, Any]] = []
        for track_id, track_rows in sorted(tracks.items()):
            poses = sorted(track_rows, key=lambda r: r["frame"])
            kps = np.array([r["keypoints"] for r in poses], np.float64)
            kps[..., 2] = np.where(kps[..., 2] >= c.min_conf, kps[..., 2], 0.0)
            usable = (kps[..., 2] > 0).sum(-1) >= c.min_keypoints
            if not usable.any():
                rows.append({"clip_id": clip.clip_id, "track_id": track_id,
                             "error": f"too few keypoints: no frame has {c.min_keypoints} above {c.min_conf}"})
                continue
            used = [r for r, ok in zip(poses, usable, strict=True) if ok]
            orient = orientations([r.get("world_landmarks") for r in used]) if c.world_init else None
            hands = hand_arrays(used, c.min_hand_presence) if c.hands else None
            fit = fit_track(self.model, kps[usable], clip.width, clip.height, settings, orient=orient,
                            hands=None if hands is None else hands[0],
                            hands_world=hands[1] if hands is not None and c.hand_world else None,
                            world=world_targets(used) if c.w_world > 0 else None)
            rows += [self._row(clip.clip_id, track_id, r["frame"], fit, t) for t, r in enumerate(used)]
        return rows

    def _row(self, clip_id: str, track_id: int, frame: int, fit: Any, t: int) -> dict[str, Any]:
        row = {"clip_id": clip_id, "track_id": track_id, "frame": frame, "model": self.model_label,
               "betas": fit.betas.tolist(), "global_orient": fit.global_orient[t].tolist(),
               "body_pose": fit.body_pose[t].tolist(), "transl": fit.transl[t].tolist(),
               "camera": fit.camera.tolist(), "fit_loss": float(fit.loss[t]), "reproj_px": float(fit.reproj_px[t])}
        if fit.left_hand_pose is not None:
            row["left_hand_pose"] = fit.left_hand_pose[t].tolist()
            row["right_hand_pose"] = fit.right_hand_pose[t].tolist()
        return row

    def error_rows(self, item: ClipWork, reason: str) -> list[dict[str, Any]]:
        return clip_error(item.clip, reason)


def run(inputs: Sequence[AnnotatedShard], config: BodyFitConfig) -> pa.Table:
    return BodyFitStage(config).run(inputs)
