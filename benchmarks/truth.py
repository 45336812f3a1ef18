"""Score what exists of the annotate and flow stages, and the physics metrics, against synthetic ground truth.

    .venv/bin/python benchmarks/truth.py [--seeds 3] [--width 256 --height 192] [--json out.json]

Renders every scene kind for a few seeds (H.264, decoded back as any clip would be) and prints:
- optical flow: end-point error (EPE, px) of each method in FLOW_METHODS against the analytic flow,
  over all pixels and over moving pixels, next to the zero-flow baseline;
- detection: recall at IoU >= 0.5 of each detector in DETECTORS against the true object boxes;
- keypoints: pixel error of a registered pose model on human scenes (none exist yet: reported as n/a);
- physics metrics: gravity / restitution relative errors, momentum change in collisions, centre error,
  and which deliberate violations each metric flags.

Flow methods: OpenCV DIS directly, and the project's `optical_flow` stage run on the clip file (DIS; RAFT too when
the registry has `raft` weights). Hooks: further stages plug in by adding an entry to FLOW_METHODS ((frames,
clip file) -> (pairs, H, W, 2) flow) or DETECTORS (frames -> per-frame lists of boxes).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.world import world_benchmark
from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.storage import Root
from physflow.stages.common.video_io import iter_frames, write_video
from physflow.stages.optical_flow.flo import UNKNOWN_FLOW_THRESHOLD, end_point_error
from physflow.stages.physics_metrics import PhysicsMetricsConfig, measure_frames
from physflow.stages.physics_metrics.expect import Expectation
from physflow.stages.physics_metrics.flowmetrics import dis_flows
from physflow.stages.synth import SCENE_KINDS, SynthConfig, simulate
from physflow.stages.synth.render import analytic_flow, object_mask, render_frames
from physflow.stages.synth.violations import EXPECTED, VIOLATIONS, broken_frames

NEEDS_GRAVITY = ("reverse_gravity", "frozen", "speed2x")

Frames = list[np.ndarray]
Box = tuple[float, float, float, float]

def _flow_stage(**config: object) -> Callable[[Frames, Path], np.ndarray]:
    """The project's optical_flow stage on the clip file, at the clip's own width; its flow-field blob read back."""
    from physflow.stages.optical_flow import FlowClip, OpticalFlowConfig, OpticalFlowStage

    def run(frames: Frames, path: Path) -> np.ndarray:
        cfg = OpticalFlowConfig(width=frames[0].shape[1], **config)  # type: ignore[arg-type]
        row = OpticalFlowStage(cfg).run([FlowClip("bench", str(path), 0, len(frames), str(path.parent))]).to_pylist()[0]
        if row["error"]:
            raise RuntimeError(row["error"])
        return np.load(BlobStore(Root(path.parent)).resolve(row["flow_uri"])).astype(np.float32)

    return run


def _raft_weights() -> str | None:
    from physflow.models.registry import WeightsRegistry

    try:
        weights = WeightsRegistry.load().get("raft")
    except (FileNotFoundError, ValueError):
        return None
    return str(weights.path) if weights else None


# Flow methods scored against the analytic flow: (decoded frames, clip file) -> (pairs, H, W, 2) flow.
FLOW_METHODS: dict[str, Callable[[Frames, Path], np.ndarray]] = {
    "zero (baseline)": lambda fr, _: np.zeros((len(fr) - 1, *fr[0].shape[:2], 2), np.float32),
    "DIS ultrafast (frames in memory)": lambda fr, _: np.stack(dis_flows(fr, preset="ultrafast")),
    "optical_flow stage, dis medium (its default)": _flow_stage(method="dis"),
    "optical_flow stage, dis fast": _flow_stage(method="dis", dis_preset="fast"),
}
if _raft_weights():
    FLOW_METHODS["optical_flow stage, raft"] = _flow_stage(method="raft", raft_weights=_raft_weights())


def _mog2_boxes(frames: Frames) -> list[list[Box]]:
    """OpenCV MOG2 background subtraction, two passes (the first learns the background), blobs as boxes."""
    sub = cv2.createBackgroundSubtractorMOG2(history=len(frames), detectShadows=False)
    for f in frames:
        sub.apply(f)
    out = []
    for f in frames:
        mask = sub.apply(f, learningRate=0)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        out.append([(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h, a in stats[1:n] if a >= 6])
    return out


def _hog_boxes(frames: Frames) -> list[list[Box]]:
    """OpenCV's HOG people detector (64 x 128 window) on frames upscaled 2x, boxes mapped back."""
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    out = []
    for f in frames:
        big = cv2.resize(f, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
        rects, _ = hog.detectMultiScale(big, winStride=(8, 8), padding=(8, 8), scale=1.05)
        out.append([(x / 2, y / 2, (x + w) / 2, (y + h) / 2) for x, y, w, h in rects])
    return out


DETECTORS: dict[str, Callable[[Frames], list[list[Box]]]] = {
    "MOG2 background subtraction": _mog2_boxes,
    "HOG people detector (humans only)": _hog_boxes,
}


def _pose_model():  # type: ignore[no-untyped-def]
    """A registered ultralytics pose model (models/registry.py `yolo-pose`), or None."""
    from physflow.models.registry import WeightsRegistry

    try:
        weights = WeightsRegistry.load().get("yolo-pose")
    except (FileNotFoundError, ValueError):
        return None
    if weights is None:
        return None
    from ultralytics import YOLO

    return YOLO(str(weights.path))


def _keypoint_error(model, scene, decoded: Frames) -> float | None:  # type: ignore[no-untyped-def]
    """Mean pixel error of the pose model's most confident person against the true COCO-17 keypoints."""
    errs = []
    for t, frame in enumerate(decoded):
        res = model.predict(frame[..., ::-1], verbose=False)[0]
        if res.keypoints is None or len(res.keypoints) == 0:
            continue
        pred = res.keypoints.xy[0].cpu().numpy()
        errs.append(float(np.linalg.norm(pred - scene.human["keypoints"][t, :, :2], axis=1).mean()))
    return float(np.mean(errs)) if errs else None


def _iou(a: Box, b: Box) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)


def _roundtrip(frames: Frames, fps: float, tmp: Path) -> Frames:
    path = write_video(tmp / "clip.mp4", frames, fps, crf=SynthConfig().crf)
    return [f for _, f in iter_frames(path)]


def _mask_box(mask: np.ndarray) -> Box:
    ys, xs = np.nonzero(mask)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def _score_clip(scene, decoded: Frames, path: Path, results: dict, pose) -> None:  # type: ignore[no-untyped-def]
    if scene.layers is not None:  # a human: keypoints, when a pose model is registered
        err = _keypoint_error(pose, scene, decoded) if pose is not None else None
        if err is not None:
            results["keypoints"].append(err)
        _detect(scene, decoded, results)
        return
    gt = analytic_flow(scene)
    moving = np.hypot(gt[..., 0], gt[..., 1]) > 0.5
    for name, method in FLOW_METHODS.items():
        flows = method(decoded, path)
        results["flow"].setdefault(name, {"all": [], "moving": []})
        # the stage's Middlebury EPE per frame pair; "moving" marks still pixels unknown
        hidden = np.where(moving[..., None], gt, 2 * UNKNOWN_FLOW_THRESHOLD)
        results["flow"][name]["all"].append(np.mean([end_point_error(f, g) for f, g in zip(flows, gt, strict=True)]))
        results["flow"][name]["moving"].append(np.mean([end_point_error(f, g) for f, g, m in
                                                        zip(flows, hidden, moving, strict=True) if m.any()]))
    _detect(scene, decoded, results)


def _detect(scene, decoded: Frames, results: dict) -> None:  # type: ignore[no-untyped-def]
    truth = [[_mask_box(object_mask(o, t, scene.height, scene.width)) for o in scene.objects]
             for t in range(scene.n_frames)]
    for name, detect in DETECTORS.items():
        if ("humans only" in name) != (scene.layers is not None):
            continue
        boxes = detect(decoded)
        hits = sum(any(_iou(b, d) >= 0.5 for d in boxes[t]) for t in range(len(truth)) for b in truth[t])
        results["detect"].setdefault(name, []).append(hits / sum(len(t) for t in truth))


def _physics(scene, decoded: Frames, results: dict, cfg: PhysicsMetricsConfig) -> None:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    m = measure_frames(decoded, scene.fps, cfg, ppm=scene.ppm)
    results["seconds_metrics"].append(time.perf_counter() - t0)
    row = results["physics"].setdefault(scene.kind, {"g_err": [], "e_err": [], "dP": [], "clean_flags": 0, "n": 0})
    row["n"] += 1
    row["clean_flags"] += bool(m["violations"])
    if m["gravity_m_s2"] is not None and scene.params.get("g"):
        row["g_err"].append(abs(m["gravity_m_s2"] - scene.params["g"]) / scene.params["g"])
    if m["restitution"] is not None and "restitution" in scene.params and scene.params.get("g"):
        row["e_err"].append(abs(m["restitution"] - scene.params["restitution"]) / scene.params["restitution"])
    if m["momentum_change"] is not None:
        row["dP"].append(m["momentum_change"])


def _violations(scene, tmp: Path, results: dict, cfg: PhysicsMetricsConfig) -> None:  # type: ignore[no-untyped-def]
    for v in VIOLATIONS:
        if v in NEEDS_GRAVITY and not scene.params.get("g"):
            continue
        # speed2x is a violation only against an expected g: the scene's truth states it
        expect = Expectation(g_px_s2=scene.params["g"] * scene.ppm) if v == "speed2x" else None
        frames = _roundtrip(broken_frames(scene, v, seed=scene.seed), scene.fps, tmp)
        m = measure_frames(frames, scene.fps, cfg, expect=expect)
        hit = results["violations"].setdefault(v, {}).setdefault(scene.kind, [0, 0])
        hit[0] += EXPECTED[v] in m["violations"]
        hit[1] += 1


def _fmt(xs: list[float], pct: bool = False) -> str:
    if not xs:
        return "n/a"
    k = 100.0 if pct else 1.0
    unit = "%" if pct else ""
    return f"{np.mean(xs) * k:.2f}{unit} (max {np.max(xs) * k:.2f}{unit})"


def _report(results: dict, n_clips: int, cfg: SynthConfig) -> None:
    print(f"\n{n_clips} clips, {cfg.width}x{cfg.height}, {cfg.n_frames} frames at {cfg.fps:g} fps, H.264 crf {cfg.crf}\n")
    print("| flow method | EPE all px | EPE moving px |\n|---|---|---|")
    for name, r in results["flow"].items():
        print(f"| {name} | {np.mean(r['all']):.3f} | {np.mean(r['moving']):.3f} |")
    print("\n| detector | recall @ IoU 0.5 |\n|---|---|")
    for name, r in results["detect"].items():
        print(f"| {name} | {np.mean(r):.3f} |")
    kp = results["keypoints"]
    print(f"\nkeypoint error (registered yolo-pose vs true COCO-17): "
          f"{f'{np.mean(kp):.2f} px' if kp else 'n/a: no pose model registered (models/registry.py yolo-pose)'}")
    print("\n| scene | clips | gravity rel. err | restitution rel. err | momentum change | clean clips flagged |")
    print("|---|---|---|---|---|---|")
    for kind, r in results["physics"].items():
        print(f"| {kind} | {r['n']} | {_fmt(r['g_err'], True)} | {_fmt(r['e_err'], True)} | {_fmt(r['dP'], True)} "
              f"| {r['clean_flags']} |")
    kinds = list(results["physics"])
    print("\n| violation flagged (broken clips) | " + " | ".join(kinds) + " |")
    print("|---" * (len(kinds) + 1) + "|")
    for v, per in results["violations"].items():
        cells = [f"{per[k][0]}/{per[k][1]}" if k in per else "-" for k in kinds]
        print(f"| {v} | " + " | ".join(cells) + " |")
    print(f"\nrender+encode {np.mean(results['seconds_render']):.3f} s/clip, "
          f"physics metrics {np.mean(results['seconds_metrics']):.3f} s/clip (no flow measures)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--height", type=int, default=192)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--world", type=int, default=15, help="open-world clips per kind (weak gravity, drift); 0: none")
    ap.add_argument("--world-only", action="store_true", help="only the open-world, broken-clip and camera part")
    args = ap.parse_args()
    if args.world:
        world_benchmark(args.world)
    if args.world_only:
        return
    cfg = SynthConfig(width=args.width, height=args.height)
    mcfg = PhysicsMetricsConfig(flow_metrics=False)
    pose = _pose_model()
    results: dict = {"flow": {}, "detect": {}, "physics": {}, "violations": {}, "keypoints": [], "seconds_render": [],
                     "seconds_metrics": []}
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        for kind in SCENE_KINDS:
            for seed in range(args.seeds):
                scene = simulate(kind, 100 + seed, cfg)
                t0 = time.perf_counter()
                decoded = _roundtrip(render_frames(scene), scene.fps, Path(tmp))
                results["seconds_render"].append(time.perf_counter() - t0)
                _score_clip(scene, decoded, Path(tmp) / "clip.mp4", results, pose)
                _physics(scene, decoded, results, mcfg)
                if seed == 0 and scene.layers is None:
                    _violations(scene, Path(tmp), results, mcfg)
                n += 1
    _report(results, n, cfg)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
