"""The open-world part of benchmarks/truth.py: balls leaving the frame under weak gravity or none, their broken
copies, and the same world filmed by a moving camera. Every clip goes through H.264 and back.

    .venv/bin/python benchmarks/truth.py --world 15 --world-only

Prints markdown tables: clean clips flagged (false alarms) and gravity error; per corruption, the share of broken
clips that raise the expected violation next to the share of their clean originals that raise it; camera motion
error and gravity in stabilised vs image coordinates.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from physflow.models import camera_motion
from physflow.stages.common.video_io import iter_frames, write_video
from physflow.stages.physics_metrics import PhysicsMetricsConfig, measure_frames
from physflow.stages.physics_metrics.expect import Expectation
from physflow.stages.physics_metrics.flowmetrics import dis_flows
from physflow.stages.synth import SynthConfig, simulate
from physflow.stages.synth.camera import CAMERA_PATHS, filmed_frames
from physflow.stages.synth.render import render_frames
from physflow.stages.synth.stage import SynthItem, clip_row
from physflow.stages.synth.violations import EXPECTED, broken_frames

# 256 px, one frame = 0.1 s (a 2D-engine benchmark's time base), 3.2 s per clip
WORLD = SynthConfig(width=256, height=256, fps=10.0, n_frames=32)
CORRUPTIONS = {"weak_gravity": ("frozen", "stopped", "stutter", "speed2x"), "drift": ("stopped", "stutter")}


def _coded(frames: list[np.ndarray], fps: float, tmp: Path) -> list[np.ndarray]:
    return [f for _, f in iter_frames(write_video(tmp / "w.mp4", frames, fps, crf=WORLD.crf))]


def _truth(kind: str, seed: int) -> dict:
    s = simulate(kind, seed, WORLD)
    return clip_row(s, WORLD, SynthItem(0, kind, seed, ""), uri="", sha="0" * 64, flow_uri=None)


def _clean_and_broken(n: int, cfg: PhysicsMetricsConfig, tmp: Path) -> tuple[dict, dict]:
    clean: dict = {}
    broken: dict = {}
    for kind, corruptions in CORRUPTIONS.items():
        row = clean.setdefault(kind, {"n": 0, "flagged": [], "g_err": [], "g_sigma": [], "flags": {}})
        for seed in range(n):
            s, truth = simulate(kind, seed, WORLD), _truth(kind, seed)
            m = measure_frames(_coded(render_frames(s), s.fps, tmp), s.fps, cfg, truth=truth)
            row["n"] += 1
            row["flagged"].append(bool(m["violations"]))
            for v in m["violations"]:
                row["flags"][v] = row["flags"].get(v, 0) + 1
            if m["gravity_rel_err"] is not None:
                row["g_err"].append(m["gravity_rel_err"])
                row["g_sigma"].append(m["accel_y_err_px_s2"] / m["accel_y_px_s2"])
            for v in corruptions:
                b = measure_frames(_coded(broken_frames(s, v, seed=seed), s.fps, tmp), s.fps, cfg, truth=truth)
                hit = broken.setdefault((kind, v), {"broken": 0, "clean": 0, "n": 0})
                hit["broken"] += EXPECTED[v] in b["violations"]
                hit["clean"] += EXPECTED[v] in m["violations"]
                hit["n"] += 1
    return clean, broken


def _camera(n: int, tmp: Path) -> list[dict]:
    canvas = SynthConfig(width=320, height=320, fps=10.0, n_frames=32)
    out_size = (240, 240)
    rows = []
    for path in CAMERA_PATHS:
        for seed in range(n):
            s = simulate("weak_gravity", seed, canvas)
            frames, true = filmed_frames(s, path, out_size)
            frames = _coded(frames, s.fps, tmp)
            est = camera_motion.motions(dis_flows(frames), model="affine", step=4, threshold=0.25)
            step_err = np.mean([camera_motion.matrix_error(e.matrix, t, out_size) for e, t in zip(est, true, strict=True)])
            back_e = camera_motion.cumulative(est)
            back_t = camera_motion.cumulative([camera_motion.CameraMotion(t, 1.0) for t in true])
            chain_err = np.mean([camera_motion.matrix_error(a, b, out_size) for a, b in zip(back_e, back_t, strict=True)])
            exp = Expectation(g_px_s2=s.params["g"] * s.ppm)  # the camera starts at zoom 1: frame 0 px = canvas px
            on = measure_frames(frames, s.fps, PhysicsMetricsConfig(flow_metrics=False), expect=exp)
            off = measure_frames(frames, s.fps, PhysicsMetricsConfig(flow_metrics=False, stabilise=False), expect=exp)
            rows.append({"path": path, "seed": seed, "step_err": step_err, "chain_err": chain_err,
                         "class": on["camera_class"], "ratio": on["gravity_ratio"], "ratio_image": off["gravity_ratio"],
                         "violations": on["violations"]})
    return rows


def _pct(xs: list[float]) -> str:
    return f"{100 * np.mean(xs):.3f}% (max {100 * np.max(xs):.3f}%)" if xs else "n/a"


def world_benchmark(n: int) -> None:
    t0 = time.perf_counter()
    cfg = PhysicsMetricsConfig(flow_metrics=False)
    with tempfile.TemporaryDirectory() as tmp:
        clean, broken = _clean_and_broken(n, cfg, Path(tmp))
        cam = _camera(max(1, n // 5), Path(tmp))
    print(f"\nOpen world: {WORLD.width}x{WORLD.height}, {WORLD.n_frames} frames at 0.1 s, H.264 crf {WORLD.crf}; "
          "balls leave the frame; weak gravity drawn in [0.05, 0.2] frame heights/s^2\n")
    print("| scene | clean clips | flagged | violations raised | gravity rel. err | stated 1-sigma rel. |")
    print("|---|---|---|---|---|---|")
    for kind, r in clean.items():
        flags = ", ".join(f"{k} {v}" for k, v in r["flags"].items()) or "-"
        print(f"| {kind} | {r['n']} | {sum(r['flagged'])} | {flags} | {_pct(r['g_err'])} | {_pct(r['g_sigma'])} |")
    total = sum(r["n"] for r in clean.values())
    print(f"\nfalse alarms: {sum(sum(r['flagged']) for r in clean.values())} of {total} clean clips\n")
    print("| scene | corruption | expected violation | broken clips flagged | clean originals flagged |")
    print("|---|---|---|---|---|")
    for (kind, v), h in broken.items():
        print(f"| {kind} | {v} | {EXPECTED[v]} | {h['broken']}/{h['n']} | {h['clean']}/{h['n']} |")
    print("\n| camera | seed | class | motion err px/frame | chained err px | g ratio stabilised | g ratio image |")
    print("|---|---|---|---|---|---|---|")
    for r in cam:
        img = "none" if r["ratio_image"] is None else f"{r['ratio_image']:.4f}"
        stab = "none" if r["ratio"] is None else f"{r['ratio']:.4f}"
        print(f"| {r['path']} | {r['seed']} | {r['class']} | {r['step_err']:.3f} | {r['chain_err']:.3f} | {stab} | {img} |")
    print(f"\nopen-world part: {time.perf_counter() - t0:.0f} s")
