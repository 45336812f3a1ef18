"""Physics measures on the real sample clips: the camera class of each, and the juggling clip's ball from detections.

    .venv/bin/python benchmarks/real_physics.py [--videos ../shared/data/real/videos] [--frames 96]

1. Camera: DIS flow at 256 px width over the first `--frames` frames of every clip, the camera's motion per frame
   pair (models/camera_motion.py, affine, as physics_metrics fits it) and its class.
2. Juggling: the detect stage (its embedded fallback when no YOLO weights are registered: HOG people plus
   motion blobs linked by IoU) on every frame of sam2_05_default_juggle.mp4; its tracks go through the same
   `measure_tracks` as colour tracks do; prints each track's extent, every free-flight segment, and the gravity
   pooled over the non-person tracks (px/s^2 of the source frame, with its 1-sigma uncertainty). Box centres
   jitter by pixels, not tenths: the fit tolerance is `--fit-tol` source px (colour tracks use 0.6).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physflow.models import camera_motion
from physflow.stages.common.annotation import ClipRef, FrameSampling
from physflow.stages.common.video_io import iter_frames, probe
from physflow.stages.detect import DetectConfig, DetectStage
from physflow.stages.physics_metrics import PhysicsMetricsConfig, tracks_from_detections
from physflow.stages.physics_metrics.flight import flights
from physflow.stages.physics_metrics.flowmetrics import dis_flows
from physflow.stages.physics_metrics.stage import measure_tracks
from physflow.stages.physics_metrics.trajectory import analyse_track

JUGGLE = "sam2_05_default_juggle.mp4"


def _camera(path: Path, n: int, cfg: PhysicsMetricsConfig) -> tuple[dict, list]:
    frames = [f for _, f in iter_frames(path, end=n, width=256)]
    if len(frames) < 2:
        return {"camera_class": "n/a (under 2 frames)"}, []
    found = camera_motion.motions(dis_flows(frames), model=cfg.camera_model, step=cfg.camera_step,
                                  threshold=cfg.camera_threshold_px)
    return camera_motion.describe(found, frames[0].shape[:2]), found


def _cameras(videos: Path, n: int, cfg: PhysicsMetricsConfig) -> None:
    print("| clip | frames | camera class | mean shift px/frame (256 px wide) | zoom rate /frame | inliers |")
    print("|---|---|---|---|---|---|")
    for path in sorted(p for p in videos.iterdir() if p.is_file() and p.suffix != ".md"):
        d, found = _camera(path, n, cfg)
        if not found:
            print(f"| {path.name} | - | {d['camera_class']} | | | |")
            continue
        print(f"| {path.name} | {len(found) + 1} | {d['camera_class']} | {d['camera_shift_px']:.3f} | "
              f"{d['camera_zoom_rate']:+.5f} | {d['camera_inliers']:.2f} |")


def _juggle(videos: Path, cfg: PhysicsMetricsConfig, fit_tol: float) -> None:
    path = videos / JUGGLE
    info = probe(str(path), decode="none")
    clip = ClipRef("juggle", "juggle", 0, info.n_frames, str(path), info.width, info.height)
    det = DetectConfig(sampling=FrameSampling(stride=1, max_frames=info.n_frames, width=640))
    rows = DetectStage(det).run([clip]).to_pylist()
    rows = [r for r in rows if not r.get("error")]
    shape = (info.height, info.width)
    print(f"\n{JUGGLE}: {len(rows)} detections, classes {sorted({r['cls'] for r in rows})}")
    tracks = [t for t in tracks_from_detections(rows, shape=shape) if len(t.frames) >= 8]
    print("| track | frames seen | span | median size px | cut |")
    print("|---|---|---|---|---|")
    for t in tracks:
        print(f"| {t.label} | {len(t.frames)} | {t.frames[0]}-{t.frames[-1]} | {2 * np.median(t.radius):.0f} | "
              f"{int(t.is_cut.sum())} |")
    # the camera over the same frames, at the source size (motions are in source pixels after scaling)
    _, found = _camera(path, info.n_frames, cfg)
    scale = info.width / 256.0
    source = [camera_motion.CameraMotion(np.diag([scale, scale, 1.0]) @ m.matrix @ np.diag([1 / scale, 1 / scale, 1.0]),
                                         m.inliers) for m in found]
    cfg = cfg.model_copy(update={"fit_tol_px": fit_tol, "min_flight_z": 5.0})
    phys = [analyse_track(t.whole(), info.fps, fit_tol) for t in tracks]
    for f in flights(phys, min_len=cfg.min_len, min_z=cfg.min_flight_z, noise_px=0.05):
        t = tracks[f.track]
        print(f"flight: {t.label} frames {t.frames[f.i0]}-{t.frames[f.i1]}: a_y {f.accel[1]:.0f} +- "
              f"{f.accel_err[1]:.0f} px/s^2, a_x {f.accel[0]:.0f}, rms {f.rms_px:.1f} px")
    balls = [t for t in tracks if "person" not in t.label]
    m = measure_tracks(balls, info.fps, info.n_frames, shape, cfg, motions=source)
    g = "none" if m["accel_y_px_s2"] is None else f"{m['accel_y_px_s2']:.0f} +- {m['accel_y_err_px_s2']:.0f}"
    print(f"non-person tracks pooled: gravity {g} px/s^2 from {m['flight_segments']} segments "
          f"({m['flight_frames']} frames); camera {m.get('camera_class')}, stabilised {m['stabilised']}")
    people = [2 * float(np.median(t.half_height)) for t in tracks if "person" in t.label and t.half_height is not None]
    if people:
        print(f"person box height (median over person tracks): {np.median(people):.0f} px")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/real/videos")
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--skip-juggle", action="store_true")
    ap.add_argument("--fit-tol", type=float, default=8.0, help="fit tolerance of detection tracks, source px")
    args = ap.parse_args()
    cfg = PhysicsMetricsConfig()
    _cameras(args.videos, args.frames, cfg)
    if not args.skip_juggle:
        _juggle(args.videos, cfg, args.fit_tol)


if __name__ == "__main__":
    main()
