"""VideoJAM flow-RGB encoding: direction and magnitude recovered, also through the MP4 codec."""

from __future__ import annotations

import numpy as np
import pytest

from physflow.stages.common.flow_encoding import (
    angle_error_deg,
    direction_deg,
    flow_to_rgb,
    normalised_magnitude,
    rgb_to_flow,
)
from physflow.stages.common.video_io import iter_frames, write_video


def _radial_flow(h=64, w=96, scale=0.1):
    """Every direction and a range of magnitudes (m up to ~0.33 at sigma 0.15): flow points away from the centre."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xs - w / 2 + 0.5, ys - h / 2 + 0.5], axis=-1) * scale


def test_zero_flow_is_background():
    for bg in (0, 128, 255):
        rgb = flow_to_rgb(np.zeros((4, 6, 2), np.float32), background=bg)
        assert (rgb == bg).all()


def test_magnitude_formula_and_saturation():
    flow = np.zeros((30, 40, 2), np.float32)
    flow[0, 0] = (3.0, 4.0)
    flow[0, 1] = (7.5, 0.0)  # 15% of the 50 px diagonal: fully opaque
    flow[0, 2] = (100.0, 0.0)
    m = normalised_magnitude(flow, sigma=0.15)
    assert m[0, 0] == pytest.approx(5.0 / (0.15 * 50))
    assert m[0, 1] == pytest.approx(1.0) and m[0, 2] == 1.0


@pytest.mark.parametrize("background", [255, 0, 100])
def test_direction_and_magnitude_round_trip(background):
    flow = _radial_flow()
    rgb = flow_to_rgb(flow, sigma=0.15, background=background)
    direction, magnitude, m = rgb_to_flow(rgb, sigma=0.15, background=background)
    strong = m > 0.1
    assert strong.mean() > 0.5
    err = angle_error_deg(direction[strong], direction_deg(flow)[strong])
    assert err.max() < 3.0, err.max()
    true_mag = np.hypot(flow[..., 0], flow[..., 1])
    step = np.hypot(*flow.shape[:2]) * 0.15 / 255  # |d| per grey level of m
    assert np.abs(magnitude - true_mag).max() <= step  # two channels rounded: at most one level of m


def test_direction_survives_the_mp4_codec(tmp_path):
    flow = _radial_flow()
    frames = [flow_to_rgb(flow)] * 3
    path = write_video(tmp_path / "flow.mp4", frames, fps=10, crf=18)
    decoded = [f for _, f in iter_frames(path)]
    assert len(decoded) == 3
    direction, _, m = rgb_to_flow(decoded[1])
    strong = m > 0.2
    err = angle_error_deg(direction[strong], direction_deg(flow)[strong])
    assert np.median(err) < 3.0 and np.percentile(err, 95) < 12.0, (np.median(err), np.percentile(err, 95))
