"""Mean VideoJAM flow-RGB opacity on real clips, under the former and the current opacity formula.

    .venv/bin/python benchmarks/flow_opacity.py [--videos ../shared/data/real/videos] [--width 256] [--pairs 24]

DIS flow (the optical_flow stage's default engine, at its default working width) between consecutive frames of the
first `--pairs` frames of each clip. Former formula: m = min(1, sigma * |d| / diagonal); current (VideoJAM's):
m = min(1, |d| / (sigma * diagonal)), sigma = 0.15. Prints a markdown table of mean m per clip.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physflow.models.flow_engines import DisFlow
from physflow.stages.common.flow_encoding import DEFAULT_SIGMA, normalised_magnitude
from physflow.stages.common.video_io import iter_frames


def _former(flow: np.ndarray, sigma: float) -> np.ndarray:
    mag = np.hypot(flow[..., 0], flow[..., 1])
    return np.minimum(1.0, sigma * mag / np.hypot(*flow.shape[:2]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/real/videos")
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--pairs", type=int, default=24)
    args = ap.parse_args()
    engine = DisFlow("medium")
    print("| clip | pairs | mean m, former formula | mean m, VideoJAM formula | share of pixels m > 0.1 (VideoJAM) |")
    print("|---|---|---|---|---|")
    old_all, new_all = [], []
    for path in sorted(p for p in args.videos.iterdir() if p.is_file() and p.suffix != ".md"):
        frames = np.stack([f for _, f in iter_frames(path, end=args.pairs + 1, width=args.width)])
        if len(frames) < 2:
            continue
        flows = engine(frames[:-1], frames[1:])
        old = float(np.mean([_former(f, DEFAULT_SIGMA).mean() for f in flows]))
        new = [normalised_magnitude(f) for f in flows]
        old_all.append(old)
        new_all.append(float(np.mean([m.mean() for m in new])))
        lit = float(np.mean([(m > 0.1).mean() for m in new]))
        print(f"| {path.name} | {len(flows)} | {old:.4f} | {new_all[-1]:.4f} | {lit:.3f} |")
    print(f"| mean of clips | | {np.mean(old_all):.4f} | {np.mean(new_all):.4f} | |")


if __name__ == "__main__":
    main()
