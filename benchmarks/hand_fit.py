"""SMPL-X hand fits on real clips: hand-keypoint reprojection with the rest hand vs the fitted hand.

    .venv/bin/python benchmarks/hand_fit.py [--frames 24] [clip ...]

Pose stage (BlazePose + hands) once per clip, then body_fit with the procedural SMPL-X body with hands off and on.
Per fitted frame and present hand (presence >= 0.5): the mean pixel distance between the body's 21 projected hand
keypoints and the hand landmarks, wrist-aligned (both hands' wrists moved onto the landmarks' wrist, so what is left
is the fingers' shape and the hand's orientation), averaged over hands; and body_fit's seconds per frame.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.annotate_truth import EMPTY_DETECTIONS, REAL
from physflow.flows.annotate import AnnotateParams, stage_configs
from physflow.models.body_model import open_body_model
from physflow.models.hand_fit import hand_keypoint_index
from physflow.models.smplify import body_forward, project
from physflow.stages.body_fit import BodyFitStage
from physflow.stages.common.annotation import AnnotatedShard, ClipRef, FrameSampling
from physflow.stages.common.video_io import probe
from physflow.stages.pose import PoseStage


def hand_error(fits: list[dict], poses: list[dict], model) -> float:  # type: ignore[no-untyped-def]
    """Mean wrist-aligned pixel error of the fitted hands against the present hand landmarks."""
    pose_at = {(r["frame"], r["track_id"]): r for r in poses}
    errors = []
    for f in fits:
        row = pose_at[(f["frame"], f["track_id"])]
        t = lambda k, f=f: torch.tensor([f[k]], dtype=torch.float32)  # noqa: E731
        hands = {k: t(k) for k in ("left_hand_pose", "right_hand_pose") if f.get(k)}
        with torch.no_grad():
            joints = body_forward(model, t("betas"), t("global_orient"), t("body_pose"), t("transl"), **hands).joints
        for side in ("left", "right"):
            marks = row.get(f"{side}_hand")
            if not marks or np.asarray(marks)[:, 2].max() < 0.5:
                continue
            pix = project(joints[0, hand_keypoint_index(model, side)], torch.tensor(f["camera"])).numpy()
            target = np.asarray(marks)[:, :2]
            errors.append(np.linalg.norm((pix - pix[0]) - (target - target[0]), axis=1).mean())
    return float(np.mean(errors)) if errors else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("clips", nargs="*", default=["sam2_05_default_juggle.mp4", "decord_flipping_a_pancake.mkv",
                                                  "mmaction2_basketball_structuralize.mp4"])
    args = ap.parse_args()
    model = open_body_model(None, "smplx")
    print("| clip | fitted frames | hands present | rest hand px | fitted hand px | body_fit s/frame rest / hands |")
    print("|---|---|---|---|---|---|")
    for name in args.clips:
        info = probe(REAL / name)
        clip = ClipRef(name, "v", 0, min(info.n_frames or 0, args.frames), str(REAL / name), info.width, info.height)
        configs = stage_configs(AnnotateParams(sampling=FrameSampling(width=640, max_frames=args.frames)))
        poses = PoseStage(configs.pose).run([AnnotatedShard([clip], {"detections": EMPTY_DETECTIONS})])
        pose_rows = [r for r in poses.to_pylist() if not r["error"]]
        out = {}
        for hands in (False, True):
            config = configs.body_fit.model_copy(update={"model": "smplx", "hands": hands})
            t0 = time.perf_counter()
            fits = [r for r in BodyFitStage(config).run([AnnotatedShard([clip], {"poses": poses})]).to_pylist()
                    if not r["error"]]
            out[hands] = (fits, (time.perf_counter() - t0) / max(len(fits), 1))
        present = sum(1 for r in pose_rows for s in ("left", "right")
                      if r.get(f"{s}_hand") and np.asarray(r[f"{s}_hand"])[:, 2].max() >= 0.5)
        print(f"| {name} | {len(out[True][0])} | {present} | {hand_error(out[False][0], pose_rows, model):.1f} | "
              f"{hand_error(out[True][0], pose_rows, model):.1f} | {out[False][1]:.2f} / {out[True][1]:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
