"""Phase 2 of generation (the physical prior) on a 32-frame clip: seconds and what it fixes.

    .venv/bin/python benchmarks/generate_prior.py [--frames 32] [--threads 1] [--repeats 3] [--device cpu]

Measures, each the median of --repeats runs after one warm-up:
- objects: optimise_objects on 3 synthetic objects (thrown+bouncing, rolling, carried), corrupted with
  jitter, hovering and ground penetration, with the learned prior;
- body: optimise_body on a synthetic walk corrupted with angle jitter, sinking and bent-back knees;
- video: phase 2 on a rendered 128 x 96 clip of a hovering throw: the annotation stages (detect, pose,
  body_fit, embedded defaults) on the coarse video, then optimisation and masks;
- people: phase 2 for one walking person at 320 x 240: the body_fit stage (embedded SMPL) on the walk's
  keypoints, then body optimisation and masks (no pose weights exist offline, so the keypoints are the
  walk's projection with 2 px noise; the pose model's own time is left out).
Prints the seconds and the measures before/after against the known truth.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pyarrow as pa
import torch

from physflow.data_catalog import Catalog
from physflow.data_catalog.schemas import DETECTIONS, table_spec
from physflow.models.physics_prior import PriorTraining, TemporalPrior, train_temporal_prior
from physflow.stages.body_fit import BodyFitConfig, BodyFitStage
from physflow.stages.common.annotation import AnnotatedShard, ClipRef
from physflow.stages.common.prior import metrics
from physflow.stages.common.prior.optimise import optimise_body, optimise_objects
from physflow.stages.common.prior.scene import Camera, object_masks
from physflow.stages.common.prior.skeleton import joint_limits
from physflow.stages.generate.prior import synthetic
from physflow.stages.generate.prior.coarse import CoarseAnnotations, CoarseAnnotator
from physflow.stages.generate.prior.config import CoarseAnnotationConfig, ExtractConfig, PriorConfig
from physflow.stages.generate.prior.phase import Priors, prior_phase

FPS = 8.0


def _timed(fn, repeats: int):  # type: ignore[no-untyped-def]
    fn()  # warm-up
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def objects(frames: int, repeats: int, prior: TemporalPrior | None, label: str = "") -> None:
    obj = synthetic.ballistic_objects(frames, FPS, seed=1)
    obs = synthetic.corrupt_objects(obj, seed=1)
    secs, res = _timed(lambda: optimise_objects(obs, np.ones(obs.shape[:2]), obj.radius, obj.free,
                                                PriorConfig(fps=FPS), prior=prior), repeats)
    if label:  # only the learned prior's effect
        print(f"  objects, learned prior {label:34s}: rmse {metrics.position_rmse(res.positions, obj.positions):.4f} m")
        return
    for name, x in (("observed", obs), ("optimised", res.positions)):
        h = x[..., 1] - obj.radius
        print(f"  objects {name:9s}: rmse {metrics.position_rmse(x, obj.positions):.4f} m, gravity residual "
              f"{metrics.gravity_residual(x, FPS, obj.free, h):.3f} m/s^2, penetration "
              f"{metrics.penetration_depth(h):.5f} m, jerk {metrics.jitter(x, FPS):.1f} m/s^3")
    print(f"  objects: {secs:.3f} s for {frames} frames x 3 objects")


def body(frames: int, repeats: int) -> None:
    truth = synthetic.walk_params(frames, FPS)
    tj = synthetic.body_joints(truth)
    noisy = synthetic.corrupt_body(truth, seed=1)
    obs = synthetic.body_joints(noisy)
    secs, res = _timed(lambda: optimise_body(noisy, obs, np.ones(obs.shape[:2]), PriorConfig(fps=FPS)), repeats)
    lim = joint_limits().numpy()
    for name, j, pose in (("observed", obs, noisy["body_pose"]), ("optimised", res.positions, res.params["body_pose"])):
        print(f"  body {name:9s}: mpjpe {metrics.position_rmse(j, tj):.4f} m, penetration "
              f"{metrics.penetration_depth(j[..., 1]):.5f} m, limit excess {metrics.limit_violation(pose, lim):.5f} rad, "
              f"jerk {metrics.jitter(j, FPS):.1f} m/s^3")
    print(f"  body: {secs:.3f} s for {frames} frames x 24 joints")


def video(frames: int, repeats: int, prior: TemporalPrior) -> None:
    width, height = 128, 96
    camera = Camera.for_frame(width, height, metres_high=3.0)
    obj = synthetic.ballistic_objects(frames, FPS, seed=0)
    pos = obj.positions[:, :1].copy()
    pos[:, 0, 0] = np.linspace(-1.8, 1.8, frames)
    peak = int(np.argmax(pos[:, 0, 1]))
    pos[peak + 1 : peak + 3, 0, 1] = pos[peak, 0, 1]
    labels = object_masks(pos, np.array([0.15]), camera)
    rgb = np.where(labels[..., None] > 0, np.uint8(220), np.uint8(120)).repeat(3, -1)
    annotator = CoarseAnnotator(CoarseAnnotationConfig())
    parts: list[tuple[float, float]] = []

    def phase_two():  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        annotations = annotator(rgb, FPS)
        t1 = time.perf_counter()
        out = prior_phase(rgb, "a ball is thrown", PriorConfig(fps=FPS), ExtractConfig(metres_high=3.0),
                          priors=Priors(objects=prior), annotations=annotations)
        parts.append((t1 - t0, out.seconds))
        return out

    secs, out = _timed(phase_two, repeats)
    reading, rest = (statistics.median(p[i] for p in parts[1:]) for i in (0, 1))
    print(f"  video: {secs:.3f} s for a {frames}-frame {width}x{height} clip (medians: annotation stages "
          f"{reading:.3f} s, optimisation + masks {rest:.3f} s); measures {out.measures}")


def people(frames: int, repeats: int) -> None:
    width, height = 320, 240
    stage = BodyFitStage(BodyFitConfig(iters_camera=40, iters_full=120))  # phase 2's body_fit settings
    stage.setup()
    seen = synthetic.seen_walk(stage.model, frames, FPS, width, height, shifted=(4, 11))
    clip = ClipRef("coarse", "coarse", 0, frames, "", width, height)
    poses = pa.Table.from_pylist([{"clip_id": "coarse", "frame": t, "track_id": 1, "keypoints": k.tolist(),
                                   "format": "coco17", "score": 0.9} for t, k in enumerate(seen.keypoints)])
    rgb = np.full((frames, height, width, 3), 120, np.uint8)

    parts: list[tuple[float, float]] = []

    def phase_two():  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        fits = stage.run([AnnotatedShard([clip], {"poses": poses})])
        t1 = time.perf_counter()
        annotations = CoarseAnnotations(table_spec(DETECTIONS).empty(), poses, fits, stage.model)
        out = prior_phase(rgb, "a man walks", PriorConfig(fps=FPS), ExtractConfig(), annotations=annotations)
        parts.append((t1 - t0, out.seconds))
        return out

    secs, out = _timed(phase_two, repeats)
    fitting, rest = (statistics.median(p[i] for p in parts[1:]) for i in (0, 1))
    body = out.bodies[0]
    for name, j in (("fitted", body.fitted), ("optimised", body.result.positions)):
        print(f"  people {name:9s}: mpjpe {np.linalg.norm(j - seen.joints, axis=-1).mean():.4f} m")
    print(f"  people: {secs:.3f} s for {frames} frames, 1 person (medians: body_fit stage {fitting:.3f} s, "
          f"optimisation + masks {rest:.3f} s); measures { {k: v for k, v in out.measures.items() if 'body' in k} }")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--catalog", help="Also compare the object prior `physflow train-prior` trained in this catalog.")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    prior = TemporalPrior(3, scale=2.0)
    train_temporal_prior(prior, synthetic.object_training_set(16, args.frames, FPS, seed=100), PriorTraining(steps=150))
    print(f"learned object prior trained on synthetic sequences in {time.perf_counter() - t0:.2f} s")
    print(f"phase 2, {args.frames} frames, torch threads {args.threads}, {PriorConfig().steps} Adam steps:")
    objects(args.frames, args.repeats, prior)
    objects(args.frames, 1, None, "none (explicit terms only)")
    objects(args.frames, 1, prior, "trained on synthetic motion")
    if args.catalog:
        from physflow.flows.train_prior import newest_priors
        from physflow.stages.generate.config import PriorRef
        from physflow.stages.generate.stage import _load_prior

        row = newest_priors(Catalog(args.catalog)).get("objects")
        if row is None:
            print(f"  (no object prior in {args.catalog}: run physflow train-prior)")
        else:
            ref = PriorRef(prior_id=row["prior_id"], sha256=row["sha256"], uri=row["uri"], catalog=args.catalog)
            objects(args.frames, 1, _load_prior(ref), f"{row['prior_id']} ({row['sequences']} catalog windows)")
    body(args.frames, args.repeats)
    video(args.frames, args.repeats, prior)
    people(args.frames, args.repeats)


if __name__ == "__main__":
    main()
