"""Physics metrics: near exact on ground-truth renders, and each deliberate violation flagged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from physflow.stages.common.video_io import iter_frames, write_video
from physflow.stages.physics_metrics import (
    MetricsItem,
    PhysicsMetricsConfig,
    PhysicsMetricsStage,
    measure_frames,
    measure_video,
    tracks_from_detections,
)
from physflow.stages.synth import SynthConfig, simulate
from physflow.stages.synth.render import render_frames
from physflow.stages.synth.stage import SynthItem, clip_row
from physflow.stages.synth.violations import VIOLATIONS, broken_frames

CFG = SynthConfig(width=160, height=128, n_frames=32, fps=16.0)
NO_FLOW = PhysicsMetricsConfig(flow_metrics=False)


def _encoded(tmp: Path, frames: list[np.ndarray], name: str) -> Path:
    """Through H.264 and back, as every real or generated clip arrives."""
    return write_video(tmp / f"{name}.mp4", frames, CFG.fps, crf=CFG.crf)


def _truth_row(kind: str, seed: int) -> dict:
    s = simulate(kind, seed, CFG)
    return clip_row(s, CFG, SynthItem(0, kind, seed, ""), uri="", sha="0" * 64, flow_uri=None)


def _measure(tmp: Path, kind: str, seed: int, config: PhysicsMetricsConfig = NO_FLOW) -> dict:
    s = simulate(kind, seed, CFG)
    path = _encoded(tmp, render_frames(s), f"{kind}-{seed}")
    return measure_video(str(path), config, ppm=s.ppm, truth=_truth_row(kind, seed))


@pytest.mark.parametrize("kind", ["free_fall", "projectile"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gravity_within_2_percent_and_restitution_within_5_percent(tmp_path, kind, seed):
    m = _measure(tmp_path, kind, seed)
    assert m["gravity_rel_err"] < 0.02, m
    assert m["n_bounces"] >= 1 and m["restitution_rel_err"] < 0.05, m
    assert m["pos_err_px"] < 0.6 and m["fit_residual_px"] < 0.6
    assert m["violations"] == []


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_momentum_conserved_in_elastic_collisions_within_5_percent(tmp_path, seed):
    m = _measure(tmp_path, "collision2_elastic", seed)
    assert m["n_collisions"] == 1
    assert m["momentum_change"] < 0.05, m
    assert m["energy_ratio"] == pytest.approx(1.0, abs=0.06)
    assert m["violations"] == []


def test_inelastic_collision_keeps_momentum_and_loses_energy(tmp_path):
    truth = simulate("collision2_inelastic", 1, CFG)
    m = _measure(tmp_path, "collision2_inelastic", 1)
    ke = [sum(o.mass * float(o.vel[t] @ o.vel[t]) for o in truth.objects) for t in (0, -1)]
    assert m["momentum_change"] < 0.05
    assert m["energy_ratio"] == pytest.approx(ke[1] / ke[0], abs=0.05)


@pytest.mark.parametrize("kind", ["pendulum", "sliding", "collision3_elastic"])
def test_other_clean_scenes_raise_no_violation(tmp_path, kind):
    m = _measure(tmp_path, kind, 1)
    assert m["violations"] == [], m
    assert m["pos_err_px"] < 0.6


def _broken(tmp_path: Path, kind: str, violation: str) -> dict:
    s = simulate(kind, 0, CFG)
    path = _encoded(tmp_path, broken_frames(s, violation, seed=1), f"{kind}-{violation}")
    return measure_video(str(path), NO_FLOW, ppm=s.ppm)


def test_shuffled_frames_are_flagged_as_out_of_order(tmp_path):
    m = _broken(tmp_path, "projectile", "shuffle")
    assert "temporal_order" in m["violations"] and m["smooth_fraction"] < 0.3


def test_reversed_gravity_is_flagged(tmp_path):
    m = _broken(tmp_path, "free_fall", "reverse_gravity")
    assert "gravity_reversed" in m["violations"]
    assert m["gravity_m_s2"] == pytest.approx(-CFG.gravity, rel=0.03)


@pytest.mark.parametrize("kind", ["projectile", "collision2_elastic"])
def test_teleport_is_flagged(tmp_path, kind):
    m = _broken(tmp_path, kind, "teleport")
    assert "teleport" in m["violations"] and m["max_gap_px"] > 10


@pytest.mark.parametrize("kind", ["projectile", "collision2_elastic"])
def test_vanishing_object_is_flagged(tmp_path, kind):
    m = _broken(tmp_path, kind, "vanish")
    assert "vanish" in m["violations"] and m["vanished"] == 1


def test_size_drift_is_flagged(tmp_path):
    m = _broken(tmp_path, "projectile", "size_drift")
    assert "size_drift" in m["violations"] and m["radius_drift"] == pytest.approx(0.4, abs=0.08)


def test_every_violation_kind_has_a_test():
    tested = {"shuffle", "reverse_gravity", "teleport", "vanish", "size_drift"}
    tested |= {"frozen", "stopped", "stutter", "speed2x"}  # in test_physics_world.py
    assert set(VIOLATIONS) == tested


def test_flow_measures_separate_smooth_shuffled_and_static_videos():
    s = simulate("projectile", 2, CFG)
    clean = measure_frames(render_frames(s), CFG.fps)
    shuffled = measure_frames(broken_frames(s, "shuffle", seed=3), CFG.fps)
    static = measure_frames([render_frames(s)[0]] * 8, CFG.fps)
    assert shuffled["motion_smoothness"] < clean["motion_smoothness"]
    assert static["dynamic_degree"] == 0.0 and static["temporal_flicker"] == pytest.approx(1.0)
    assert static["n_tracks"] == 1 and static["violations"] == []


def test_tracks_from_detection_rows():
    rows = [{"frame": f, "track_id": 7, "box": [10 + f, 20, 30 + f, 40], "error": None} for f in range(5)]
    rows.append({"frame": 2, "track_id": 8, "box": None, "error": "nothing found"})
    (track,) = tracks_from_detections(rows)
    np.testing.assert_allclose(track.pos[:, 0], 20 + np.arange(5))
    np.testing.assert_allclose(track.radius, 10.0)


def test_stage_rows_and_a_bad_video_becomes_an_error_row(tmp_path):
    s = simulate("free_fall", 2, CFG)
    path = _encoded(tmp_path, render_frames(s), "ff")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    stage = PhysicsMetricsStage(PhysicsMetricsConfig())
    table = stage.run([MetricsItem("c1", str(path), 0, 32, CFG.fps, s.ppm, _truth_row("free_fall", 2)),
                       MetricsItem("c2", str(bad))])
    good, err = table.to_pylist()
    assert good["error"] is None and good["gravity_rel_err"] < 0.02 and good["motion_smoothness"] > 0.9
    assert err["clip_id"] == "c2" and err["error"] and stage.stats.errors


def test_runs_on_a_real_video(real_videos):
    """Real footage has no ground truth; the measures must still come out finite and in range."""
    path = real_videos / "decord_flipping_a_pancake.mkv"
    m = measure_video(str(path), PhysicsMetricsConfig(max_frames=24))
    assert m["n_frames"] == 24 and 0 <= m["dynamic_degree"] <= 1
    assert 0.5 < m["motion_smoothness"] <= 1 and 0.5 < m["temporal_flicker"] <= 1
    frames = np.stack([f for _, f in iter_frames(path, end=24)])
    assert measure_frames(frames, 30.0, NO_FLOW)["n_frames"] == 24
