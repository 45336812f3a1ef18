"""SMPL-X fits with hands: the procedural SMPL-X body has fingers, and a fit to the 21 hand landmarks per hand
brings the hand joints closer to a known hand pose than the rest hand (figures printed with -s)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
import torch

from physflow.models.body_model import open_body_model
from physflow.models.hand_fit import hand_keypoint_index, has_hands
from physflow.models.smplify import FitSettings, fit_track
from physflow.stages.body_fit import BodyFitConfig, BodyFitStage
from physflow.stages.common.annotation import AnnotatedShard, ClipRef, FrameSampling
from physflow.stages.part_masks import PartMasksConfig, PartMasksStage
from tests.stages.synthetic_body import HEIGHT, WIDTH, synthetic_hands, synthetic_track


@pytest.fixture(scope="module")
def smplx_model():
    return open_body_model(None, "smplx")


@pytest.fixture(scope="module")
def truth(smplx_model):
    track = synthetic_track(smplx_model, n_frames=6, noise_px=1.5, dropped=2)
    return track, synthetic_hands(smplx_model, track)


def test_procedural_smplx_fingers_bend(smplx_model):
    """Finger joints sit along the fingers (not all at the wrist) and curl towards the palm (-y, T-pose)."""
    assert has_hands(smplx_model)
    left = hand_keypoint_index(smplx_model, "left")
    rest = smplx_model().joints[0, left].detach().numpy()
    assert np.linalg.norm(rest[8] - rest[0]) > 0.15  # index tip ~17 cm beyond the wrist
    curl = torch.zeros(1, 45)
    curl[0, 2::3][:12] = -0.8  # every non-thumb finger joint about z
    bent = smplx_model(left_hand_pose=curl).joints[0, left].detach().numpy()
    assert bent[8, 1] < rest[8, 1] - 0.05  # the index tip went down towards the palm side


def _hand_error(fit, hands, model) -> float:
    """Mean wrist-relative 3D error (mm) of the 42 hand keypoints."""
    pts = np.stack([fit.joints[:, hand_keypoint_index(model, s)] for s in ("left", "right")], 1)
    rel, true_rel = pts - pts[:, :, :1], hands.points - hands.points[:, :, :1]
    return float(1000 * np.linalg.norm(rel - true_rel, axis=-1).mean())


def test_hand_fit_beats_the_rest_hand(smplx_model, truth):
    track, hands = truth
    settings = FitSettings(iters_camera=40, iters_full=120, iters_hands=80)
    rest = fit_track(smplx_model, track.keypoints, WIDTH, HEIGHT, settings)
    flat = fit_track(smplx_model, track.keypoints, WIDTH, HEIGHT, settings, hands=hands.pixels)
    full = fit_track(smplx_model, track.keypoints, WIDTH, HEIGHT, settings, hands=hands.pixels,
                     hands_world=hands.world)
    e_rest, e_2d, e_world = (_hand_error(f, hands, smplx_model) for f in (rest, flat, full))
    print(f"\nhand keypoints, wrist-relative error: rest hand {e_rest:.1f} mm, 2D hand fit {e_2d:.1f} mm, "
          f"2D + world {e_world:.1f} mm; hand reprojection {np.nanmean(full.hand_reproj_px):.2f} px")
    assert rest.left_hand_pose is None and full.left_hand_pose.shape == (6, 45)
    assert e_2d < 0.5 * e_rest and e_world < 0.5 * e_rest
    assert np.nanmean(full.hand_reproj_px) < 3.0


def test_body_fit_stage_writes_hand_poses_for_smplx_only(truth, tmp_path):
    track, hands = truth
    clip = ClipRef("synthetic:0-6", "synthetic", 0, 6, "/nonexistent/synthetic.mp4", WIDTH, HEIGHT)
    rows = []
    for t in range(len(track.keypoints)):
        row = {"clip_id": clip.clip_id, "frame": t, "track_id": 1, "keypoints": track.keypoints[t].tolist(),
               "format": "coco17", "score": 0.9, "right_hand": hands.pixels[t, 1].tolist(),
               "right_hand_world": hands.world[t, 1].tolist()}
        if t % 2 == 0:  # the left hand only in every other frame: absent frames are fitted from the body alone
            row |= {"left_hand": hands.pixels[t, 0].tolist(), "left_hand_world": hands.world[t, 0].tolist()}
        rows.append(row)
    shard = [AnnotatedShard([clip], {"poses": pa.Table.from_pylist(rows)})]
    fast = {"iters_camera": 30, "iters_full": 60, "iters_hands": 60}
    smplx_fits = BodyFitStage(BodyFitConfig(model="smplx", **fast)).run(shard).to_pylist()
    smpl_fits = BodyFitStage(BodyFitConfig(model="smpl", **fast)).run(shard).to_pylist()
    assert len(smplx_fits) == 6 and all(r["error"] is None for r in smplx_fits)
    right = np.array([r["right_hand_pose"] for r in smplx_fits])
    assert right.shape == (6, 45) and np.abs(right).max() > 0.2  # fitted, not left at rest
    assert all(r.get("right_hand_pose") is None for r in smpl_fits) and len(smpl_fits) == 6
    # part_masks poses the fitted fingers: both hands show as their labels
    sampling = FrameSampling(stride=1, max_frames=6, width=WIDTH)
    masks = PartMasksStage(PartMasksConfig(sampling=sampling, model="smplx", preview=False)).run(
        [AnnotatedShard([clip], {"body_fits": pa.Table.from_pylist(smplx_fits)}, blob_root=str(tmp_path))])
    names = [set(json.loads(labels).values()) for labels in masks.column("labels").to_pylist()]
    assert all({"left_hand", "right_hand", "left_wrist"} <= n for n in names)
