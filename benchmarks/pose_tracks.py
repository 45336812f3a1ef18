"""Pose tracks on the real people clips, before and after pruning short / faint tracks.

    .venv/bin/python benchmarks/pose_tracks.py [--frames 48] [--min-frames 1 3 5 8] [--min-visibility 0 0.5 0.7]

Runs the pose stage (BlazePose, hands off: they do not change tracks) with pruning off, prints every track's
length and mean COCO-17 keypoint confidence, then how many tracks and person-frames each (min frames, min
visibility) setting keeps, using the stage's own `prune_tracks`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.annotate_truth import EMPTY_DETECTIONS, PEOPLE, REAL
from physflow.flows.annotate import AnnotateParams, stage_configs
from physflow.stages.common.annotation import AnnotatedShard, ClipRef, FrameSampling
from physflow.stages.common.video_io import probe
from physflow.stages.pose import PoseStage
from physflow.stages.pose.stage import prune_tracks, track_stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--min-frames", type=int, nargs="+", default=[1, 3, 5, 8])
    ap.add_argument("--min-visibility", type=float, nargs="+", default=[0.0, 0.5, 0.7])
    args = ap.parse_args()
    settings = [(f, v) for f in args.min_frames for v in args.min_visibility]
    header = " | ".join(f"tracks (person-frames) >= {f} fr, vis >= {v:g}" for f, v in settings)
    table = [f"| clip | {header} |", "|---|" + "---|" * len(settings)]
    for name in PEOPLE:
        path = REAL / name
        if not path.exists():
            continue
        info = probe(path)
        clip = ClipRef(name, "v", 0, min(info.n_frames or 0, args.frames), str(path), info.width, info.height)
        params = AnnotateParams(sampling=FrameSampling(width=640, max_frames=args.frames))
        config = stage_configs(params).pose.model_copy(update={"hands": False, "min_track_frames": 1,
                                                               "min_track_visibility": 0.0})
        stage = PoseStage(config)
        t0 = time.perf_counter()
        rows = [r for r in stage.run([AnnotatedShard([clip], {"detections": EMPTY_DETECTIONS})]).to_pylist()
                if not r["error"]]
        people = [(r["frame"], r["track_id"], None, r["keypoints"], r["score"], {}) for r in rows]
        stats = track_stats(people)
        print(f"{name}: {len(stats)} tracks in {time.perf_counter() - t0:.0f} s; (frames, mean visibility): "
              + ", ".join(f"{n}/{v:.2f}" for n, v in sorted(stats.values(), reverse=True)), flush=True)
        cells = []
        for f, v in settings:
            kept, _ = prune_tracks(people, min(f, clip.n_frames), v)
            cells.append(f"{len({p[1] for p in kept})} ({len(kept)})")
        table.append(f"| {name} | " + " | ".join(cells) + " |")
    print("\n".join(table))


if __name__ == "__main__":
    main()
