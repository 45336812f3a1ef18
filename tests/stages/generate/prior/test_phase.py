"""Phase 2 on rendered video: tracks from pixels, optimisation in metres, part masks back in pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physflow.stages.common.prior.scene import OBJECT_BASE, Camera, body_masks, object_masks, object_tracks
from physflow.stages.generate.prior import synthetic
from physflow.stages.generate.prior.config import ExtractConfig, PriorConfig
from physflow.stages.generate.prior.phase import prior_phase

pytestmark = pytest.mark.timeout(120)
W, H, FPS, FRAMES = 96, 64, 16.0, 24


def _render(labels: np.ndarray) -> np.ndarray:
    """Part label maps [F, H, W] as RGB frames: a grey background, each label its own colour."""
    palette = np.array([[128, 128, 128]] + [[(53 * i) % 256, 255 - (97 * i) % 256, (29 * i) % 256]
                                             for i in range(1, 256)], np.uint8)
    return palette[labels]


def _throw(seed: int) -> synthetic.Objects:
    obj = synthetic.ballistic_objects(FRAMES, FPS, seed)
    pos = obj.positions[:, :1].copy()
    pos[..., 0] += -1.5 - pos[0, 0, 0]  # start near the left edge so the throw stays in view
    pos[..., 2] = 0.0
    return synthetic.Objects(pos, np.array([0.15]), np.array([True]))


def test_masks_and_tracks_round_trip() -> None:
    camera = Camera.for_frame(W, H, metres_high=3.0)
    obj = _throw(0)
    labels = object_masks(obj.positions, obj.radius, camera, first_label=OBJECT_BASE)
    assert labels.shape == (FRAMES, H, W) and set(np.unique(labels)) <= {0, OBJECT_BASE}
    tracks = object_tracks(_render(labels))
    assert tracks.centres.shape[1] == 1
    expected = camera.to_pixels(obj.positions)
    visible = tracks.seen[:, 0]
    assert np.abs(tracks.centres[visible, 0] - expected[visible, 0]).max() < 1.5


def test_body_masks_label_limbs() -> None:
    camera = Camera.for_frame(W, H, metres_high=2.5)
    joints = synthetic.body_joints(synthetic.walk_params(4, 8.0))
    joints[..., 2] = 0
    joints[..., 0] -= joints[:, :1, 0]  # keep the body centred in the frame
    maps = body_masks(joints, camera, limb_px=2)
    assert maps.shape == (4, H, W)
    assert set(np.unique(maps)) >= {0, 5, 6, 16}  # shins (knee -> ankle: knee parts 5, 6) and head (16)
    assert int((maps > 0).sum()) > 50


def test_prior_phase_fixes_a_rendered_hovering_throw() -> None:
    torch.set_num_threads(1)
    camera = Camera.for_frame(W, H, metres_high=3.0)
    truth = _throw(0)
    seen = truth.positions.copy()
    peak = int(np.argmax(seen[:, 0, 1]))
    seen[peak + 1 : peak + 4, 0, 1] = seen[peak, 0, 1]  # the coarse video's ball hovers for three frames
    frames = _render(object_masks(seen, truth.radius, camera))
    out = prior_phase(frames, "a ball is thrown", PriorConfig(fps=FPS), ExtractConfig(metres_high=3.0))
    assert out.confidence == 1.0 and out.labels.shape == (FRAMES, H, W)
    assert out.measures["objects"] == 1
    assert out.measures["optimised_gravity_residual_m_s2"] < 0.3 * out.measures["extracted_gravity_residual_m_s2"]
    assert out.result is not None
    fixed = out.result.positions[:, 0, :2]
    err_seen = np.abs(camera.to_world(camera.to_pixels(seen))[:, 0, 1] - truth.positions[:, 0, 1])[peak + 1 : peak + 4]
    err_fixed = np.abs(fixed[:, 1] - truth.positions[:, 0, 1])[peak + 1 : peak + 4]
    assert err_fixed.mean() < 0.7 * err_seen.mean()


def test_prior_phase_with_nothing_moving_gives_an_empty_condition() -> None:
    frames = np.full((8, 32, 32, 3), 90, np.uint8)
    out = prior_phase(frames, "a cup", PriorConfig(fps=8.0), ExtractConfig())
    assert out.confidence == 0.0 and out.n_parts == 0 and not out.labels.any()
