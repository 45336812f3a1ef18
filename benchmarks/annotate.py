"""Frames per second of each annotation component, and the pipeline's overhead over the bare model.

    .venv/bin/python benchmarks/annotate.py [--frames 32] [--width 640] [--repeats 2] [--device cpu]

For each component the same frames go (a) straight to the model (decode + model call, nothing else) and
(b) through the physflow stage (`Stage.run`: item split, model, rows, schema conformance, blobs). Then
the whole annotate flow runs over the same clip (Prefect tasks, Parquet artifacts, catalog registration)
and is compared with the sum of the stage runs. Best of `--repeats` runs each. YOLO models are built by
ultralytics from yolov8n*.yaml (random weights: the speed is that of the real architecture).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import throwaway_home  # noqa: F401  (sets PREFECT_HOME before Prefect is imported)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pyarrow as pa

from physflow.models.body_model import build_body_model, load_body_model
from physflow.models.classical_detector import ClassicalDetector
from physflow.models.rasterize import face_labels, rasterize_labels
from physflow.models.smplify import (
    FitSettings,
    body_forward,
    camera_for,
    coco17_joint_index,
    fit_track,
    project,
    torch_threads,
)
from physflow.models.yolo import load_yolo, prepare_ultralytics, track_frames
from physflow.stages.body_fit import BodyFitConfig, BodyFitStage
from physflow.stages.common.annotation import AnnotatedShard, ClipRef, FrameSampling, WeightsRef
from physflow.stages.detect import DetectConfig, DetectStage
from physflow.stages.part_masks import PartMasksConfig, PartMasksStage
from physflow.stages.pose import PoseConfig, PoseStage

VIDEOS = next((p for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")) if p.is_dir()),
              Path("shared")) / "data" / "real" / "videos"
VIDEO = "sam2_05_default_juggle.mp4"


def best(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of `repeats` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def paired(direct: Callable[[], object], staged: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Best times of two calls, run alternately so load drift on a shared machine hits both alike.

    Also records the best process CPU time of each (all threads), less disturbed by other processes.
    """
    wall: tuple[list[float], list[float]] = ([], [])
    cpu: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for i, fn in enumerate((direct, staged)):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[i].append(time.perf_counter() - t0)
            cpu[i].append(time.process_time() - c0)
    _CPU.append((min(cpu[0]), min(cpu[1])))
    return min(wall[0]), min(wall[1])


_CPU: list[tuple[float, float]] = []  # (direct, stage) CPU seconds of the latest `paired` call


def report(name: str, frames: int, direct: float, staged: float) -> None:
    cpu_direct, cpu_staged = _CPU[-1] if _CPU else (direct, staged)
    print(f"{name:<22} direct {frames / direct:8.1f} fps ({direct:6.2f} s)   stage {frames / staged:8.1f} fps "
          f"({staged:6.2f} s)   overhead wall {100 * (staged - direct) / direct:+6.1f}%   "
          f"cpu {100 * (cpu_staged - cpu_direct) / cpu_direct:+6.1f}% ({cpu_direct:.2f} -> {cpu_staged:.2f} s)")


def make_weights(folder: Path) -> dict[str, WeightsRef]:
    from physflow.data_catalog.keys import file_sha256

    prepare_ultralytics(folder / "ultralytics")
    from ultralytics import YOLO

    refs = {}
    for name, yaml in (("detect", "yolov8n.yaml"), ("pose", "yolov8n-pose.yaml")):
        path = folder / f"{name}.pt"
        YOLO(yaml).save(str(path))
        refs[name] = WeightsRef(path=str(path), sha256=file_sha256(path))
    body = build_body_model(folder / "SMPL_NEUTRAL.pkl")
    refs["body"] = WeightsRef(path=str(body), sha256=file_sha256(body))
    return refs


def synthetic_poses(model, clip: ClipRef, n: int) -> tuple[np.ndarray, pa.Table]:  # type: ignore[no-untyped-def]
    """A known body track projected into the clip's frame size (what a pose model would give)."""
    import torch

    rng = np.random.default_rng(0)
    pose = torch.tensor(rng.normal(0, 0.1, (n, 69)), dtype=torch.float32)
    orient = torch.tensor([[np.pi, 0.0, 0.0]] * n, dtype=torch.float32)
    transl = torch.tensor([[0.0, 0.2, 5.0]] * n, dtype=torch.float32)
    with torch.no_grad():
        joints = body_forward(model, torch.zeros(1, 10), orient, pose, transl).joints
    cam = torch.tensor(camera_for(clip.width, clip.height), dtype=torch.float32)
    xy = project(joints[:, coco17_joint_index(24)], cam).numpy()
    kps = np.concatenate([xy, np.ones((*xy.shape[:2], 1))], axis=-1)
    rows = [{"clip_id": clip.clip_id, "frame": t, "track_id": 1, "keypoints": kps[t].tolist(), "format": "coco17",
             "score": 1.0} for t in range(n)]
    return kps, pa.Table.from_pylist(rows)


def bench_yolo(args: argparse.Namespace, clip: ClipRef, sampling: FrameSampling,
               weights: dict[str, WeightsRef]) -> None:
    frames = [f for _, f in clip.frames(sampling)]
    yolo_kw = {"conf": 0.25, "iou": 0.7, "imgsz": args.imgsz, "batch": 8, "device": args.device}
    for name, ref, stage_cls, cfg in (
        ("detect (YOLO+track)", weights["detect"], DetectStage, DetectConfig(sampling=sampling, yolo=weights["detect"],
                                                                             **yolo_kw)),
        ("pose (YOLO-pose)", weights["pose"], PoseStage, PoseConfig(sampling=sampling, yolo_pose=weights["pose"],
                                                                   **yolo_kw)),
    ):
        model = load_yolo(ref.path)
        track_frames(model, frames[:2], **yolo_kw)  # warm-up (first call builds the predictor)
        stage = stage_cls(cfg)
        inputs = [clip] if stage_cls is DetectStage else [AnnotatedShard([clip], {"detections": pa.table({})})]
        stage.run(inputs)  # warm-up: setup() loads the model once per stage instance
        direct, staged = paired(lambda m=model: (list(clip.frames(sampling)), track_frames(m, frames, **yolo_kw)),  # type: ignore[misc]
                                lambda s=stage, i=inputs: s.run(i), args.repeats)  # type: ignore[misc]
        report(name, len(frames), direct, staged)


def bench_components(args: argparse.Namespace, clip: ClipRef, weights: dict[str, WeightsRef], tmp: Path) -> None:
    sampling = FrameSampling(stride=1, max_frames=args.frames, width=args.width)
    n = len(clip.sampled(sampling))
    decode = best(lambda: list(clip.frames(sampling)), args.repeats)
    print(f"{'decode':<22} {n / decode:8.1f} fps ({decode:.2f} s for {n} frames at width {args.width})")
    bench_yolo(args, clip, sampling, weights)

    def hog() -> None:
        detector = ClassicalDetector(min_person_score=0.3, min_blob_area=0.002)
        for f in clip.frames(sampling):
            detector(f[1])

    direct, staged = paired(hog, lambda: DetectStage(DetectConfig(sampling=sampling, fallback="hog+mog2")).run([clip]),
                            args.repeats)
    report("detect (HOG+motion)", n, direct, staged)

    def moving() -> None:
        from physflow.models.moving_objects import MovingObjectTracker

        MovingObjectTracker()([f for _, f in clip.frames(sampling)])

    direct, staged = paired(moving, lambda: DetectStage(DetectConfig(sampling=sampling)).run([clip]), args.repeats)
    report("detect (flow objects)", n, direct, staged)
    bench_blazepose(args, clip, sampling)

    body = load_body_model(weights["body"].path)
    kps, pose_rows = synthetic_poses(body, clip, n)
    settings = FitSettings(device=args.device)
    fit_stage = BodyFitStage(BodyFitConfig(body_model=weights["body"], device=args.device))
    fits = fit_stage.run([AnnotatedShard([clip], {"poses": pose_rows})])
    direct, staged = paired(lambda: fit_track(body, kps, clip.width, clip.height, settings),
                            lambda: fit_stage.run([AnnotatedShard([clip], {"poses": pose_rows})]), args.repeats)
    report("body_fit (SMPLify)", n, direct, staged)

    fit = fit_track(body, kps, clip.width, clip.height, settings)
    faces = np.asarray(body.faces, np.int64)
    labels = face_labels(body.lbs_weights.argmax(1).numpy() + 1, faces).astype(np.uint8)
    size = clip.working_size(sampling)

    def render() -> None:
        import torch

        t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
        with torch.no_grad(), torch_threads(1):  # as the stage does
            verts = body(betas=t(fit.betas[None]).expand(n, -1), global_orient=t(fit.global_orient),
                         body_pose=t(fit.body_pose), transl=t(fit.transl)).vertices.numpy()
        for v in verts:
            rasterize_labels([(v, faces, labels)], fit.camera, size)

    mask_stage = PartMasksStage(PartMasksConfig(sampling=sampling, body_model=weights["body"], preview=False))
    shard = AnnotatedShard([clip], {"body_fits": fits}, blob_root=str(tmp / "blobs"))
    direct, staged = paired(render, lambda: mask_stage.run([shard]), args.repeats)
    report("part_masks (render)", n, direct, staged)


def bench_blazepose(args: argparse.Namespace, clip: ClipRef, sampling: FrameSampling) -> None:
    """The pose stage's default (BlazePose, then with hands) when `physflow weights install-defaults` has run."""
    from physflow.flows.annotate import AnnotateParams, stage_configs

    config = stage_configs(AnnotateParams(sampling=sampling)).pose
    if not config.blazepose_detector:
        print("pose (BlazePose)       n/a: run `physflow weights install-defaults`")
        return
    empty = AnnotatedShard([clip], {"detections": pa.table({"clip_id": pa.array([], pa.string())})})
    for name, cfg in (("pose (BlazePose)", config.model_copy(update={"hands": False})),
                      ("pose + hands", config)):
        stage = PoseStage(cfg)
        seconds = best(lambda s=stage: s.run([empty]), args.repeats)  # type: ignore[misc]
        people = sum(1 for r in stage.run([empty]).to_pylist() if r["error"] is None)
        print(f"{name:<22} {len(clip.sampled(sampling)) / seconds:8.1f} fps, {people / seconds:6.1f} "
              f"person-frames/s ({people} person-frames, stage run)")


def bench_flow(args: argparse.Namespace, weights: dict[str, WeightsRef], tmp: Path) -> None:
    """The annotate flow over the same clip, against the sum of its stage runs."""
    from prefect.testing.utilities import prefect_test_harness

    from physflow.flows.annotate import AnnotateParams, annotate_flow
    from tests.flows.clip_fixtures import register_clips

    toml = tmp / "physflow.toml"
    toml.write_text(f'[weights]\nyolo-detect = "{weights["detect"].path}"\nyolo-pose = "{weights["pose"].path}"\n'
                    f'smpl = "{weights["body"].path}"\n')
    with prefect_test_harness(server_startup_timeout=120):
        catalog = tmp / "catalog"
        register_clips(catalog, VIDEOS)
        params = AnnotateParams(
            catalog=str(catalog), weights_config=str(toml), limit=1, shard_size=1,
            sampling={"stride": 1, "max_frames": args.frames, "width": args.width},
            detect={"imgsz": args.imgsz, "device": args.device}, pose={"imgsz": args.imgsz, "device": args.device},
            body_fit={"device": args.device}, part_masks={"preview": False},
        )
        t0 = time.perf_counter()
        refs = annotate_flow(params)
        cold = time.perf_counter() - t0
        work = sum(r.stats.get("seconds", 0.0) for r in refs.refs)
        t0 = time.perf_counter()
        annotate_flow(params)
        warm = time.perf_counter() - t0
    print(f"flow cold {cold:.2f} s; stage work inside it {work:.2f} s; orchestration overhead "
          f"{100 * (cold - work) / work:+.1f}% ({cold - work:.2f} s: Prefect tasks, Parquet, catalog); warm {warm:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-flow", action="store_true", help="Skip the whole-flow measurement.")
    args = parser.parse_args()
    import torch

    print(f"torch threads {torch.get_num_threads()}, device {args.device}, clip {VIDEO} (1280x720), "
          f"{args.frames} frames")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        weights = make_weights(tmp / "weights")
        clip = ClipRef(f"{VIDEO}:0-{args.frames}", "bench", 0, args.frames, str(VIDEOS / VIDEO), 1280, 720)
        bench_components(args, clip, weights, tmp)
        if not args.no_flow:
            bench_flow(args, weights, tmp)


if __name__ == "__main__":
    main()
