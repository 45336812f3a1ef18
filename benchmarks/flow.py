"""Optical flow: end-point error and milliseconds per frame pair, DIS presets and RAFT, at 256 and 512 px width.

    .venv/bin/python benchmarks/flow.py [--raft-weights FILE --raft-model raft_large] [--device cpu|cuda]

EPE is measured on the Middlebury pairs in ../shared/data/real/flow_gt (RubberWhale, Dimetrodon): frames are
scaled to the working width, the flow is scaled back to the ground truth's 584 x 388 (vectors too) and
compared where the truth is known. RAFT runs with random weights unless a state-dict file is given, so its
EPE is reported only for a given file; its timing is the real architecture's. Last: the whole stage
(flow + .npy + flow-RGB MP4 + spectral volume) on 60 pairs of a real clip.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physflow.models.flow_engines import DIS_PRESETS, DisFlow, FlowEngine
from physflow.models.raft import RaftFlow, build_raft, load_raft
from physflow.stages.optical_flow import FlowClip, OpticalFlowConfig, OpticalFlowStage
from physflow.stages.optical_flow.flo import end_point_error, read_flo

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
SCENES = ("RubberWhale", "Dimetrodon")
WIDTHS = (256, 512)


def _load_scene(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    folder = REAL / "flow_gt" / name
    a, b = (cv2.cvtColor(cv2.imread(str(folder / f)), cv2.COLOR_BGR2RGB) for f in ("frame10.png", "frame11.png"))
    return a, b, read_flo(folder / "flow10.flo")


def _resize(img: np.ndarray, width: int) -> np.ndarray:
    height = max(2, round(img.shape[0] * width / img.shape[1] / 2) * 2)
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


def _to_gt_size(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    up = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    return up * np.array([w / flow.shape[1], h / flow.shape[0]], np.float32)


def measure(engine: FlowEngine, width: int, repeats: int, with_epe: bool) -> tuple[float | None, float]:
    """(mean EPE over the scenes or None, median ms per pair)."""
    errors, times = [], []
    for scene in SCENES:
        a, b, gt = _load_scene(scene)
        a, b = _resize(a, width)[None], _resize(b, width)[None]
        engine(a, b)  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            flow = engine(a, b)[0]
            times.append((time.perf_counter() - t0) * 1000)
        if with_epe:
            errors.append(end_point_error(_to_gt_size(flow, gt.shape[:2]), gt))
    return (statistics.mean(errors) if errors else None), statistics.median(times)


def stage_throughput(width: int) -> float:
    video = REAL / "videos" / "decord_flipping_a_pancake.mkv"
    with tempfile.TemporaryDirectory() as tmp:
        stage = OpticalFlowStage(OpticalFlowConfig(width=width))
        t0 = time.perf_counter()
        row = stage.run([FlowClip("bench", str(video), 0, 61, tmp, 30.0)]).to_pylist()[0]
        assert row["error"] is None, row["error"]
        return (time.perf_counter() - t0) * 1000 / row["n_pairs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raft-weights", help="a torchvision RAFT state dict: also report its EPE")
    parser.add_argument("--raft-model", default="raft_large", choices=["raft_small", "raft_large"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--raft-iters", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"torch threads {torch.get_num_threads()}, OpenCV threads {cv2.getNumThreads()}, device {args.device}")
    print(f"{'method':<28}{'width':>6}{'EPE px':>10}{'ms/pair':>10}")
    for width in WIDTHS:
        for preset in DIS_PRESETS:
            epe, ms = measure(DisFlow(preset), width, args.repeats, with_epe=True)
            print(f"{'dis ' + preset:<28}{width:>6}{epe:>10.3f}{ms:>10.1f}")
        torch.manual_seed(0)
        for variant in ("raft_small", "raft_large"):
            model = build_raft(variant)  # type: ignore[arg-type]
            engine = RaftFlow(model, args.device, args.raft_iters)
            _, ms = measure(engine, width, max(1, args.repeats // 2), with_epe=False)
            print(f"{variant + f' random x{args.raft_iters}':<28}{width:>6}{'n/a':>10}{ms:>10.1f}")
        if args.raft_weights:
            engine = RaftFlow(load_raft(args.raft_weights, args.raft_model), args.device, args.raft_iters)
            epe, ms = measure(engine, width, max(1, args.repeats // 2), with_epe=True)
            print(f"{args.raft_model + ' (file)':<28}{width:>6}{epe:>10.3f}{ms:>10.1f}")
    for width in WIDTHS:
        print(f"stage dis medium, {width} px, 60 pairs incl. blobs: {stage_throughput(width):.1f} ms/pair")


if __name__ == "__main__":
    main()
