"""Compare recipes on the synthetic ball world at tiny size, scored by the trajectory metric.

    /work/main/.venv/bin/python benchmarks/train_compare.py --out /tmp/train-compare [--dit-steps 150 --unet-steps 40]

Trains, with the same seed, data and steps: VideoJAM (DiT + flow) vs the same DiT without flow, and ReVision
with vs without the part-mask channels; then samples one video per clip and scores each with
stages/train/loop/trajectory_metric (presence, RMS px from a constant-acceleration path), next to the same
score on the training clips themselves. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physflow.stages.physics_metrics import PhysicsMetricsConfig, measure_frames
from physflow.stages.train.checkpoint import load_checkpoint
from physflow.stages.train.data import DataConfig, TrainDataset, load_snapshot
from physflow.stages.train.loop import LoopConfig
from physflow.stages.train.loop.trajectory_metric import trajectory_score
from physflow.stages.train.recipes import RevisionConfig, VideoJAMConfig
from tests.fixtures.train_run import run_training
from tests.fixtures.train_world import build_train_world


def _uint8(video: torch.Tensor) -> np.ndarray:
    """[3, F, H, W] in [-1, 1] -> [F, H, W, 3] uint8."""
    return ((video.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 3, 0).numpy()


def _score(videos: list[np.ndarray]) -> dict[str, float]:
    scores = [trajectory_score(v) for v in videos]
    rms = [s["traj_rms_px"] for s in scores if np.isfinite(s["traj_rms_px"])]
    # The physics metrics (colour tracks -> violations such as teleport, vanish, size drift, temporal order).
    physics = [measure_frames(v, fps=8.0, config=PhysicsMetricsConfig(flow_metrics=False)) for v in videos]
    return {"presence": float(np.mean([s["presence"] for s in scores])),
            "traj_rms_px": float(np.mean(rms)) if rms else float("nan"), "scored": len(rms),
            "violations": float(np.mean([len(p["violations"]) for p in physics])),
            "flagged": float(np.mean([bool(p["violations"]) for p in physics]))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="/tmp/train-compare")
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--dit-steps", type=int, default=150)
    ap.add_argument("--unet-steps", type=int, default=40)
    ap.add_argument("--sample-steps", type=int, default=12)
    args = ap.parse_args()
    catalog = build_train_world(Path(args.out) / "catalog", n_clips=args.clips, frames=12, size=args.size)
    data = DataConfig(frames=args.frames, size=args.size, require_flow=True)
    snap = load_snapshot(catalog, data)
    batch = torch.utils.data.default_collate([TrainDataset(snap, data)[i] for i in range(len(snap.rows))])
    rows = [("training clips (reference)", "-", _score([_uint8(v) for v in batch["video"]]), float("nan"), 0.0)]
    runs = [
        ("videojam (DiT + flow)", VideoJAMConfig(), args.dit_steps, 3e-3),
        ("DiT without flow", VideoJAMConfig(use_flow=False), args.dit_steps, 3e-3),
        ("revision with masks", RevisionConfig(), args.unet_steps, 3e-3),
        ("revision without masks", RevisionConfig(use_masks=False), args.unet_steps, 3e-3),
    ]
    for label, cfg, steps, lr in runs:
        loop = LoopConfig(steps=steps, batch_size=4, lr=lr, save_every=steps, seed=0)
        start = time.perf_counter()
        run_id, result = run_training(catalog, cfg, data, loop, snap)
        seconds = time.perf_counter() - start
        recipe, _ = load_checkpoint(catalog, f"{run_id}:{result.steps}")  # the registered checkpoint, reloaded
        videos = recipe.sample(batch, args.sample_steps, torch.Generator().manual_seed(0))
        final = float(np.mean(result.losses[-10:]))
        rows.append((label, str(steps), _score([_uint8(v) for v in videos]), final, seconds))
        score = rows[-1][2]
        print(f"done {label}: loss {result.losses[0]:.3f} -> {final:.3f} in {seconds:.0f} s; presence "
              f"{score['presence']:.2f}, traj RMS {score['traj_rms_px']:.2f} px", flush=True)
    print("\n| model | steps | final loss (mean of last 10) | presence | traj RMS px (lower = closer to ballistic) "
          "| videos scored | physics violations per video | videos flagged | train s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, steps, s, loss, seconds in rows:
        print(f"| {label} | {steps} | {loss:.3f} | {s['presence']:.2f} | {s['traj_rms_px']:.2f} | {s['scored']} | {s['violations']:.2f} | {s['flagged']:.2f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
