"""Coarse vs refined on the synthetic ball world: does phase 3, conditioned on phase 2's masks, fix physics?

    .venv/bin/python benchmarks/generate_world.py [--out /tmp/generate-world] [--train-steps 60] [--clips 8]

Builds the synthetic ball world (balls thrown, bouncing and rolling, with part masks in the catalog's label
convention), trains the ReVision recipe (mask-conditioned video UNet) on it for --train-steps steps, then
generates from the first frame and caption of every clip: phase 1 coarse, phase 2 (annotation stages +
physical prior -> masks), phase 3 refined. Prints per phase the physics measures of the generated videos
(stages/physics_metrics: violations, teleports, size drift, ...) averaged over clips, the seconds per phase,
and the training clips' own measures as the reference. One run: ratios within it are the figures to trust.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
import torch

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.keys import file_sha256
from physflow.stages.common.video_io import iter_frames
from physflow.stages.generate.config import GenerateConfig
from physflow.stages.generate.stage import GenerateItem, GenerateStage
from physflow.stages.physics_metrics import PhysicsMetricsConfig, measure_frames
from physflow.stages.train.data import DataConfig, load_snapshot
from physflow.stages.train.loop import LoopConfig
from physflow.stages.train.recipes import RevisionConfig
from tests.fixtures.train_run import run_training
from tests.fixtures.train_world import build_train_world

FPS = 8.0
KEYS = ("violations", "teleports", "radius_drift", "n_tracks", "dynamic_degree", "temporal_flicker", "unforced_changes",
        "repeated_frames", "rest_frames_midair")


def _summary(measures: list[dict]) -> dict[str, float]:
    out = {"videos": len(measures), "flagged": float(np.mean([bool(m.get("violations")) for m in measures]))}
    for key in KEYS:
        values = [len(m[key]) if key == "violations" else m.get(key) for m in measures]
        values = [abs(v) if key == "radius_drift" else v for v in values if v is not None and np.isfinite(v)]
        out[key] = float(np.mean(values)) if values else float("nan")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/generate-world")
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--train-steps", type=int, default=60)
    ap.add_argument("--sample-steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    catalog = build_train_world(out / "catalog", n_clips=args.clips, frames=args.frames, size=args.size)
    data = DataConfig(frames=args.frames, size=args.size, require_masks=True)
    snapshot = load_snapshot(catalog, data)
    loop = LoopConfig(steps=args.train_steps, batch_size=4, lr=3e-3, save_every=args.train_steps, seed=0)
    start = time.perf_counter()
    _, result = run_training(catalog, RevisionConfig(), data, loop, snapshot)
    print(f"trained ReVision recipe {args.train_steps} steps in {time.perf_counter() - start:.0f} s: loss "
          f"{result.losses[0]:.3f} -> {np.mean(result.losses[-10:]):.3f}", flush=True)
    checkpoint = catalog.query("SELECT checkpoint_id FROM checkpoints ORDER BY step DESC LIMIT 1").column(0)[0].as_py()

    clips = catalog.query("SELECT c.clip_id, c.clip_uri, p.enhanced_prompt FROM clips c "
                          "JOIN physics_context p USING (clip_id) ORDER BY c.clip_id").to_pylist()
    metrics_cfg = PhysicsMetricsConfig(flow_metrics=False)
    reference = [measure_frames(np.stack([f for _, f in iter_frames(c["clip_uri"])]), fps=FPS, config=metrics_cfg)
                 for c in clips]
    items = []
    for c in clips:
        first = next(iter(iter_frames(c["clip_uri"], end=1)))[1]
        path = out / f"{c['clip_id'].replace(':', '_')}.png"
        cv2.imwrite(str(path), cv2.cvtColor(first, cv2.COLOR_RGB2BGR))
        items.append(GenerateItem(prompt=c["enhanced_prompt"], image_path=str(path), image_sha256=file_sha256(path),
                                  blob_root=str(catalog.root.uri), seed=0))
    config = GenerateConfig(checkpoint=checkpoint, frames=args.frames, width=args.size, height=args.size, fps=FPS,
                            steps=args.sample_steps, physics_context=False,
                            learned_prior={"source": "synthetic", "sequences": 8, "steps": 100})
    stage = GenerateStage(config)
    rows = stage.run(items).to_pylist()
    errors = [r["error"] for r in rows if r["error"]]
    if errors:
        print(f"{len(errors)} failed generations: {errors[:3]}")
    by_phase: dict[str, list[dict]] = {"coarse": [], "prior": [], "refined": []}
    seconds: dict[str, list[float]] = {k: [] for k in by_phase}
    for r in rows:
        if r["error"] is None:
            m = json.loads(r["metrics"])
            by_phase[r["stage"]].append(m)
            seconds[r["stage"]].append(r["seconds"])
    print(f"\nphase 2 on the coarse videos: objects found per video "
          f"{statistics.mean(m.get('objects', 0) for m in by_phase['prior']):.2f} "
          f"(from {sorted({m.get('objects_from') for m in by_phase['prior']})})")
    print("\n| videos | n | flagged | violations | teleports | abs radius drift | tracks | dynamic degree | flicker "
          "| unforced dv | repeated frames | mid-air rest frames | s/video |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    table = [("training clips (reference)", _summary(reference), float("nan"))]
    table += [(phase, _summary([m["physics_metrics"] for m in by_phase[phase] if "physics_metrics" in m]),
               statistics.mean(seconds[phase]) if seconds[phase] else float("nan")) for phase in ("coarse", "refined")]
    for label, s, secs in table:
        print(f"| {label} | {s['videos']} | {s['flagged']:.2f} | {s['violations']:.2f} | {s['teleports']:.2f} | "
              f"{s['radius_drift']:.3f} | {s['n_tracks']:.2f} | {s['dynamic_degree']:.2f} | "
              f"{s['temporal_flicker']:.3f} | {s['unforced_changes']:.2f} | {s['repeated_frames']:.2f} | "
              f"{s['rest_frames_midair']:.2f} | {secs:.2f} |")
    print(f"\nphase 2 seconds per video: {statistics.mean(seconds['prior']):.2f}")
    videos = {(r["generation_id"], r["stage"]): np.stack([f for _, f in iter_frames(BlobStore(catalog.root).resolve(r["video_uri"]))]).astype(float)
              for r in rows if r["error"] is None and r["stage"] in ("coarse", "refined")}
    diffs = [np.abs(videos[(g, "refined")] - videos[(g, "coarse")]).mean() for g, s in videos if s == "coarse"]
    print(f"mean |refined - coarse| per pixel and channel (0-255): {statistics.mean(diffs):.2f}")


if __name__ == "__main__":
    main()
