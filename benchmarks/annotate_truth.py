"""The annotate stages against synthetic human truth, and the share of frames with a person on real clips.

    .venv/bin/python benchmarks/annotate_truth.py [--seeds 2] [--frames 16] [--real-frames 48]

Synthetic humans (`physflow synth` scenes human_walk / human_jump / human_wave, H.264 round trip), with a
still and a moving (panning and bobbing) camera, through the real pose -> body_fit -> part_masks stages:
- PCK@0.1: a COCO-17 keypoint is correct within 0.1 x the larger side of the true keypoints' box (missed
  frames count as wrong), for the pose stage with no weights (the old default) and with the registry's files;
- MPJPE and PA-MPJPE (mm) of the fitted bodies' 24 joints against the true SMPL joints, pelvis-centred
  (camera axes: y down, z away from the camera) and after a similarity (Procrustes) alignment;
- person-mask IoU: the part map's body labels against the true silhouette.
Real clips: share of sampled frames with a person (a body), with a fitted body, with at least one hand (a body's
or one found without a body); body tracks and hand-only tracks.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physflow.flows.annotate import AnnotateParams, stage_configs
from physflow.stages.body_fit import BodyFitStage
from physflow.stages.common.annotation import HANDS_ONLY, OBJECT_BASE, AnnotatedShard, ClipRef, FrameSampling
from physflow.stages.common.video_io import probe, write_video
from physflow.stages.part_masks import PartMasksStage
from physflow.stages.pose import PoseStage
from physflow.stages.synth import SynthConfig, simulate
from physflow.stages.synth.render import render_frames

REAL = next((p for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared"))
             if p.is_dir()), Path("shared")) / "data" / "real" / "videos"
PEOPLE = ["sam2_05_default_juggle.mp4", "decord_flipping_a_pancake.mkv", "sam2_03_blocks.mp4",
          "sam2_04_coffee_pour.mp4", "mmaction2_basketball_structuralize.mp4"]
EMPTY_DETECTIONS = pa.table({"clip_id": pa.array([], pa.string())})


def camera_shift(t: int, moving: bool) -> tuple[float, float]:
    return (2.5 * t, 6.0 * np.sin(t / 3.0)) if moving else (0.0, 0.0)


def shifted(frames: list[np.ndarray], moving: bool) -> list[np.ndarray]:
    import cv2

    out = []
    for t, f in enumerate(frames):
        dx, dy = camera_shift(t, moving)
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        out.append(cv2.warpAffine(f, m, (f.shape[1], f.shape[0]), borderMode=cv2.BORDER_REFLECT))
    return out


COCO_FLIP = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)  # left <-> right


def pck(rows: list[dict], truth: np.ndarray, moving: bool, flip: bool = False) -> float:
    """PCK@0.1; flip: a frame also counts with left and right swapped (front / back confusion)."""
    by_frame = {r["frame"]: np.asarray(r["keypoints"])[:, :2] for r in rows if r.get("keypoints")}
    hits = []
    for t, true_kps in enumerate(truth):
        gt = true_kps[:, :2] + camera_shift(t, moving)
        size = max(np.ptp(gt[:, 0]), np.ptp(gt[:, 1]))
        pred = by_frame.get(t)
        if pred is None:
            hits.append(0.0)
            continue
        ok = [(np.linalg.norm(p - gt, axis=1) < 0.1 * size).mean() for p in ([pred, pred[list(COCO_FLIP)]] if flip
                                                                             else [pred])]
        hits.append(max(ok))
    return float(np.mean(hits))


def true_joints(scene) -> np.ndarray:  # type: ignore[no-untyped-def]
    """(T, 24, 3) true SMPL joints in camera axes (x right, y down, z away), metres."""
    import torch

    from physflow.models.smplify import body_forward
    from physflow.stages.synth.human import body_model

    h, n = scene.human, len(scene.human["body_pose"])
    t = lambda a: torch.tensor(np.asarray(a, np.float32))  # noqa: E731
    with torch.no_grad():
        out = body_forward(body_model()[0], t(np.tile(h["betas"], (n, 1))), t(h["global_orient"]),
                           t(h["body_pose"]), t(h["transl"]))
    return out.joints[:, :24].numpy() * np.array([1.0, -1.0, -1.0])


def fit_joints(fits: list[dict], model) -> dict[int, np.ndarray]:  # type: ignore[no-untyped-def]
    import torch

    from physflow.models.smplify import body_forward

    if not fits:
        return {}
    t = lambda k: torch.tensor([f[k] for f in fits], dtype=torch.float32)  # noqa: E731
    with torch.no_grad():
        out = body_forward(model, t("betas"), t("global_orient"), t("body_pose"), t("transl"))
    return {f["frame"]: j for f, j in zip(fits, out.joints[:, :24].numpy(), strict=True)}


def procrustes(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """pred aligned to gt by the best similarity transform."""
    mp, mg = pred.mean(0), gt.mean(0)
    p, g = pred - mp, gt - mg
    u, s, vt = np.linalg.svd(p.T @ g)
    d = np.sign(np.linalg.det(u @ vt))
    s[-1] *= d
    u[:, -1] *= d
    r = u @ vt
    scale = s.sum() / (p ** 2).sum()
    return scale * p @ r + mg


def mpjpe(fits: dict[int, np.ndarray], truth: np.ndarray) -> tuple[list[float], list[float]]:
    plain, pa_ = [], []
    for t, pred in fits.items():
        gt = truth[t] - truth[t][0]
        p = pred - pred[0]
        plain.append(float(np.linalg.norm(p - gt, axis=1).mean() * 1000))
        pa_.append(float(np.linalg.norm(procrustes(p, gt) - gt, axis=1).mean() * 1000))
    return plain, pa_


def mask_iou(rows: list[dict], blob_root: Path, scene, moving: bool) -> list[float]:  # type: ignore[no-untyped-def]
    import cv2

    from physflow.data_catalog.blobs import BlobStore
    from physflow.data_catalog.storage import Root

    blobs, out = BlobStore(Root(blob_root)), []
    for r in rows:
        if not r.get("mask_uri"):
            continue
        labels = cv2.imread(str(blobs.resolve(r["mask_uri"])), cv2.IMREAD_UNCHANGED)
        body = (labels > 0) & (labels < OBJECT_BASE)
        truth = scene.objects[0].masks[r["frame"]].astype(np.uint8)
        dx, dy = camera_shift(r["frame"], moving)
        truth = cv2.warpAffine(truth, np.float32([[1, 0, dx], [0, 1, dy]]), truth.shape[::-1]) > 0
        if body.shape != truth.shape:
            body = cv2.resize(body.astype(np.uint8), truth.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
        out.append(float((body & truth).sum() / max((body | truth).sum(), 1)))
    return out


def annotate(clip: ClipRef, params: AnnotateParams, blob_root: Path, fit: bool = True) -> tuple[list, list, list, float]:
    configs = stage_configs(params)
    t0 = time.perf_counter()
    poses = PoseStage(configs.pose).run([AnnotatedShard([clip], {"detections": EMPTY_DETECTIONS})])
    pose_rows = [r for r in poses.to_pylist() if not r["error"]]
    fit_rows, mask_rows = [], []
    if fit:
        fits = BodyFitStage(configs.body_fit).run([AnnotatedShard([clip], {"poses": poses})])
        fit_rows = [r for r in fits.to_pylist() if not r["error"]]
        masks = PartMasksStage(configs.part_masks).run(
            [AnnotatedShard([clip], {"detections": EMPTY_DETECTIONS, "body_fits": fits, "poses": poses},
                            blob_root=str(blob_root))])
        mask_rows = [r for r in masks.to_pylist() if not r["error"]]
    return pose_rows, fit_rows, mask_rows, time.perf_counter() - t0


def synthetic_clips(args: argparse.Namespace, cfg: SynthConfig, tmp: Path, moving: bool):  # type: ignore[no-untyped-def]
    """(scene, clip) of each synthetic human video, rendered with a still or moving camera."""
    for kind in ("human_walk", "human_jump", "human_wave"):
        for seed in range(args.seeds):
            scene = simulate(kind, 100 + seed, cfg)
            path = write_video(tmp / f"{kind}{seed}{moving}.mp4", shifted(render_frames(scene), moving), scene.fps,
                               crf=cfg.crf)
            yield scene, ClipRef(f"{kind}:{seed}", "v", 0, cfg.n_frames, str(path), cfg.width, cfg.height)


def synthetic(args: argparse.Namespace, tmp: Path) -> None:
    from physflow.models.body_model import open_body_model

    cfg = SynthConfig(width=320, height=240, n_frames=args.frames)
    model = open_body_model(None, "smpl")
    print("| camera | pose weights | PCK@0.1 | PCK@0.1 L/R-swap allowed | MPJPE mm | PA-MPJPE mm | person-mask IoU "
          "| frames fitted |")
    print("|---|---|---|---|---|---|---|---|")
    for moving in (False, True):
        for use in (False, True):
            p, pf, m, pam, iou, fitted, total = [], [], [], [], [], 0, 0
            for scene, clip in synthetic_clips(args, cfg, tmp, moving):
                params = AnnotateParams(use_weights=use, sampling=FrameSampling(width=cfg.width))
                poses, fits, masks, _ = annotate(clip, params, tmp)
                p.append(pck(poses, scene.human["keypoints"], moving))
                pf.append(pck(poses, scene.human["keypoints"], moving, flip=True))
                a, b = mpjpe(fit_joints(fits, model), true_joints(scene))
                m, pam = m + a, pam + b
                iou += mask_iou(masks, tmp, scene, moving)
                fitted, total = fitted + len({f["frame"] for f in fits}), total + cfg.n_frames
            fmt = lambda xs: f"{np.mean(xs):.1f}" if xs else "n/a"  # noqa: E731
            print(f"| {'moving' if moving else 'still'} | {'registry' if use else 'none (old default)'} | "
                  f"{np.mean(p):.3f} | {np.mean(pf):.3f} | {fmt(m)} | {fmt(pam)} | {np.mean(iou) if iou else 0:.3f} | {fitted}/{total} |")


def world_term(args: argparse.Namespace, tmp: Path) -> None:
    """body_fit without and with its 3D term against the world landmarks, on the same pose rows (registry)."""
    from physflow.models.body_model import open_body_model

    cfg = SynthConfig(width=320, height=240, n_frames=args.frames)
    model = open_body_model(None, "smpl")
    print("\n| camera | 3D term (w_world) | MPJPE mm | PA-MPJPE mm | reprojection px | frames fitted |")
    print("|---|---|---|---|---|---|")
    for moving in (False, True):
        results: dict[float, tuple[list, list, list, int]] = {w: ([], [], [], 0) for w in args.world_weights}
        total = 0
        for scene, clip in synthetic_clips(args, cfg, tmp, moving):
            configs = stage_configs(AnnotateParams(sampling=FrameSampling(width=cfg.width)))
            poses = PoseStage(configs.pose).run([AnnotatedShard([clip], {"detections": EMPTY_DETECTIONS})])
            total += cfg.n_frames
            for w, (m, pam, rep, n) in results.items():
                fit_config = configs.body_fit.model_copy(update={"w_world": w})
                fits = [r for r in BodyFitStage(fit_config).run([AnnotatedShard([clip], {"poses": poses})])
                        .to_pylist() if not r["error"]]
                a, b = mpjpe(fit_joints(fits, model), true_joints(scene))
                results[w] = (m + a, pam + b, rep + [f["reproj_px"] for f in fits], n + len(fits))
        for w, (m, pam, rep, n) in results.items():
            print(f"| {'moving' if moving else 'still'} | {w:g}{' (off)' if w == 0 else ''} | {np.mean(m):.1f} | "
                  f"{np.mean(pam):.1f} | {np.mean(rep):.2f} | {n}/{total} |")


def real(args: argparse.Namespace, tmp: Path) -> None:
    print("\n| clip | frames | with a person | fitted | with a hand | people tracks | hand-only tracks | s/frame |")
    print("|---|---|---|---|---|---|---|---|")
    for name in PEOPLE:
        path = REAL / name
        if not path.exists():
            print(f"| {name} | absent | | | | | |")
            continue
        info = probe(path)
        clip = ClipRef(name, "v", 0, min(info.n_frames or 0, args.real_frames), str(path), info.width, info.height)
        params = AnnotateParams(sampling=FrameSampling(width=640, max_frames=args.real_frames))
        poses, fits, masks, seconds = annotate(clip, params, tmp, fit=not args.no_fit)
        if args.sheets and masks and masks[0].get("preview_uri"):
            from physflow.data_catalog.blobs import BlobStore
            from physflow.data_catalog.storage import Root

            args.sheets.mkdir(parents=True, exist_ok=True)
            sheet = BlobStore(Root(tmp)).resolve(masks[0]["preview_uri"])
            (args.sheets / f"{Path(name).stem}.png").write_bytes(Path(sheet).read_bytes())
        n = clip.n_frames
        bodies = [r for r in poses if r.get("source") != HANDS_ONLY]
        hands = {r["frame"] for r in poses if r.get("left_hand") or r.get("right_hand")}
        hand_tracks = {r["track_id"] for r in poses if r.get("source") == HANDS_ONLY}
        print(f"| {name} | {n} | {len({r['frame'] for r in bodies}) / n:.2f} | {len({f['frame'] for f in fits}) / n:.2f} "
              f"| {len(hands) / n:.2f} | {len({r['track_id'] for r in bodies})} | {len(hand_tracks)} | {seconds / n:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--real-frames", type=int, default=48)
    ap.add_argument("--no-fit", action="store_true", help="Real clips: pose only.")
    ap.add_argument("--skip-synthetic", action="store_true")
    ap.add_argument("--sheets", type=Path, default=None, help="Folder for the real clips' contact sheets.")
    ap.add_argument("--world-weights", type=float, nargs="*", default=None,
                    help="Only compare body_fit's 3D term at these weights (e.g. 0 1000) on the synthetic humans.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.world_weights is not None:
            world_term(args, Path(tmp))
            return
        if not args.skip_synthetic:
            synthetic(args, Path(tmp))
        real(args, Path(tmp))


if __name__ == "__main__":
    main()
