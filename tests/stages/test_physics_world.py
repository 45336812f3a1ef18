"""Physics measures on an open world (balls leaving the frame, weak gravity), on deliberately broken copies, under
a moving camera, from detection-like tracks, and against stated expectations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from physflow.models import camera_motion
from physflow.stages.common.video_io import iter_frames, write_video
from physflow.stages.physics_metrics import PhysicsMetricsConfig, measure_frames, tracks_from_detections
from physflow.stages.physics_metrics.expect import Expectation, from_context
from physflow.stages.physics_metrics.flowmetrics import dis_flows
from physflow.stages.physics_metrics.stage import measure_tracks
from physflow.stages.synth import SynthConfig, simulate
from physflow.stages.synth.camera import filmed_frames
from physflow.stages.synth.render import object_mask, render_frames
from physflow.stages.synth.stage import SynthItem, clip_row
from physflow.stages.synth.violations import EXPECTED, broken_frames

CFG = SynthConfig(width=128, height=128, n_frames=32, fps=10.0)  # one frame = 0.1 s, as in 2D-engine benchmarks
FAST = PhysicsMetricsConfig(flow_metrics=False, stabilise=False)


def _truth(kind: str, seed: int, cfg: SynthConfig = CFG) -> dict:
    return clip_row(simulate(kind, seed, cfg), cfg, SynthItem(0, kind, seed, ""), uri="", sha="0" * 64, flow_uri=None)


def _coded(tmp: Path, frames: list[np.ndarray], fps: float) -> list[np.ndarray]:
    """Through H.264 and back, as every real or generated clip arrives."""
    return [f for _, f in iter_frames(write_video(tmp / "clip.mp4", frames, fps, crf=CFG.crf))]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", ["weak_gravity", "drift"])
def test_balls_leaving_the_frame_raise_nothing_and_weak_gravity_is_measured(tmp_path, kind, seed):
    s = simulate(kind, seed, CFG)
    m = measure_frames(_coded(tmp_path, render_frames(s), s.fps), s.fps, FAST, truth=_truth(kind, seed))
    assert m["violations"] == [], m
    assert m["cut_observations"] > 0  # something did cross the border
    if kind == "drift":
        assert m["accel_y_px_s2"] is None
    else:
        assert s.params["g_frame_heights"] <= 0.2
        assert m["gravity_rel_err"] < 0.01, m
        assert m["accel_y_err_px_s2"] < 0.05 * m["accel_y_px_s2"]


@pytest.mark.parametrize(("kind", "violation"), [
    ("weak_gravity", "frozen"), ("weak_gravity", "stopped"), ("drift", "stopped"), ("weak_gravity", "stutter"),
    ("drift", "stutter"), ("weak_gravity", "speed2x"), ("projectile", "frozen"),
])
def test_broken_clips_raise_their_violation(kind, violation):
    cfg = CFG if kind != "projectile" else SynthConfig(width=160, height=128, n_frames=32, fps=16.0)
    s = simulate(kind, 1, cfg)
    m = measure_frames(broken_frames(s, violation, seed=2), s.fps, FAST, truth=_truth(kind, 1, cfg))
    assert EXPECTED[violation] in m["violations"], m
    if violation == "speed2x":
        assert m["gravity_ratio"] == pytest.approx(4.0, rel=0.05)


def test_frozen_clip_without_gravity_is_an_unforced_stop_not_a_mid_air_rest():
    s = simulate("drift", 1, CFG)
    m = measure_frames(broken_frames(s, "frozen", seed=2), s.fps, FAST, truth=_truth("drift", 1))
    assert "unforced_velocity_change" in m["violations"] and "unsupported_rest" not in m["violations"]


def test_time_base_and_expected_gravity():
    s = simulate("weak_gravity", 2, CFG)
    frames = render_frames(s)
    g_px = s.params["g"] * s.ppm
    # the clip stored at 30 fps: in container time gravity looks 9x; stating 0.1 s per frame fixes it
    wrong = measure_frames(frames, 30.0, FAST, expect=Expectation(g_px_s2=g_px))
    right = measure_frames(frames, 30.0, FAST, expect=Expectation(g_px_s2=g_px, seconds_per_frame=0.1))
    scaled = measure_frames(frames, 30.0, FAST, expect=Expectation(g_px_s2=g_px, time_scale=3.0))
    assert wrong["gravity_ratio"] == pytest.approx(9.0, rel=0.01) and "gravity_deviation" in wrong["violations"]
    assert right["gravity_ratio"] == pytest.approx(1.0, abs=0.01) and right["violations"] == []
    assert scaled["gravity_ratio"] == pytest.approx(1.0, abs=0.01)


def test_expectations_merge_in_order_and_come_from_context():
    ctx = from_context('{"density_kg_m3": 1000, "g_m_s2": 1.62, "time_scale": 0.5}')
    assert (ctx.g_m_s2, ctx.time_scale, ctx.ppm) == (1.62, 0.5, None)
    merged = Expectation(g_m_s2=9.81).merged(None, ctx, Expectation(ppm=100.0, time_scale=2.0))
    assert (merged.g_m_s2, merged.time_scale, merged.ppm) == (9.81, 0.5, 100.0)
    assert merged.gravity_px() == pytest.approx(981.0) and merged.frame_seconds(25.0) == pytest.approx(0.02)


def test_camera_motion_is_removed_before_measuring():
    cfg = SynthConfig(width=256, height=256, n_frames=32, fps=10.0)
    s = simulate("weak_gravity", 0, cfg)
    frames, true = filmed_frames(s, "pan_zoom", (192, 192))
    est = camera_motion.motions(dis_flows(frames), model="affine")
    err = np.mean([camera_motion.matrix_error(e.matrix, t, (192, 192)) for e, t in zip(est, true, strict=True)])
    assert err < 0.2, err
    cfg_m = PhysicsMetricsConfig(flow_metrics=False)
    m = measure_frames(frames, s.fps, cfg_m, expect=Expectation(g_px_s2=s.params["g"] * s.ppm))
    assert m["camera_class"] == "zoom" and m["stabilised"]
    assert m["gravity_ratio"] == pytest.approx(1.0, abs=0.02), m


def test_detection_tracks_are_measured_by_the_same_functions():
    """Boxes of the true masks as a detector would give them (cut at the border): gravity within 1%."""
    s = simulate("weak_gravity", 3, CFG)
    rows = []
    for obj in s.objects:
        for t in range(s.n_frames):
            ys, xs = np.nonzero(object_mask(obj, t, CFG.height, CFG.width))
            if len(xs):
                rows.append({"frame": t, "track_id": obj.object_id, "cls": "sports ball", "error": None,
                             "box": [xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5]})
    tracks = tracks_from_detections(rows, shape=(CFG.height, CFG.width), classes=["sports ball"])
    assert all(tr.is_cut.any() for tr in tracks if tr.frames[-1] < s.n_frames - 1)
    m = measure_tracks(tracks, s.fps, s.n_frames, (CFG.height, CFG.width), FAST, ppm=s.ppm)
    assert m["gravity_m_s2"] == pytest.approx(s.params["g"], rel=0.01)
    assert m["violations"] == []


def test_a_pendulum_swing_is_not_an_upside_down_world():
    """The bottom of a swing is locally a parabola opening upwards; it explains too little of the track to count."""
    cfg = SynthConfig()
    s = simulate("pendulum", 100, cfg)
    m = measure_frames(render_frames(s), s.fps, FAST, truth=_truth("pendulum", 100, cfg))
    assert m["violations"] == [], m


def test_people_move_themselves():
    """A person's box that stops dead mid-frame is no unforced change; the same motion of a ball is."""
    rows = [{"frame": t, "track_id": 1, "cls": cls, "error": None,
             "box": [20 + 4 * min(t, 12) - 5, 40, 20 + 4 * min(t, 12) + 5, 50]}
            for t in range(24) for cls in ["person"]]
    person = tracks_from_detections(rows, shape=(96, 128))
    ball = tracks_from_detections([{**r, "cls": "sports ball"} for r in rows], shape=(96, 128))
    assert person[0].animate and not ball[0].animate
    m_person = measure_tracks(person, 10.0, 24, (96, 128), FAST)
    m_ball = measure_tracks(ball, 10.0, 24, (96, 128), FAST)
    assert "unforced_velocity_change" not in m_person["violations"]
    assert "unforced_velocity_change" in m_ball["violations"]


def test_detection_masks_give_centres_and_border_cuts():
    """Masks (RLE, as the detect stage writes them) of a ball leaving the frame: mask centroids, cut at the edge."""
    from physflow.stages.common.annotation import rle_encode

    s = simulate("weak_gravity", 3, CFG)
    rows = [{"frame": t, "track_id": obj.object_id, "cls": "sports ball", "error": None, "box": [0, 0, 1, 1],
             "mask_rle": rle_encode(object_mask(obj, t, CFG.height, CFG.width))}
            for obj in s.objects for t in range(s.n_frames) if object_mask(obj, t, CFG.height, CFG.width).any()]
    tracks = tracks_from_detections(rows, shape=(CFG.height, CFG.width))
    for tr, obj in zip(tracks, s.objects, strict=True):
        whole = tr.whole()
        assert np.abs(whole.pos - obj.pos[whole.frames]).max() < 0.3
    assert any(tr.is_cut.any() for tr in tracks)
    m = measure_tracks(tracks, s.fps, s.n_frames, (CFG.height, CFG.width), FAST, ppm=s.ppm)
    assert m["gravity_m_s2"] == pytest.approx(s.params["g"], rel=0.01) and m["violations"] == []
