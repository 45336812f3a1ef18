"""Flow-based measures for any video, with OpenCV DIS optical flow (no weights needed).

These approximate VBench's definitions and are named as such: VBench uses RAFT for dynamic degree and
the AMT frame interpolator for motion smoothness; here DIS flow stands in for both.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from physflow.models.flow_engines import DisFlow


def dis_flows(frames: Sequence[np.ndarray], step: int = 1, preset: str = "medium") -> list[np.ndarray]:
    """DIS forward flow (H x W x 2 float32, px) from frame t to frame t + step, for every t (the optical_flow
    stage's engine)."""
    engine = DisFlow(preset)
    stack = np.ascontiguousarray(np.asarray(frames))
    return list(engine(stack[:-step], stack[step:]))


def _warp(img: np.ndarray, flow: np.ndarray, scale: float) -> np.ndarray:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, xs + scale * flow[..., 0], ys + scale * flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def flow_metrics(frames: Sequence[np.ndarray], flows: Sequence[np.ndarray] | None = None) -> dict[str, float | None]:
    """Dynamic degree, motion smoothness and temporal flicker of RGB frames (VBench-style approximations).

    - dynamic_degree (approx. VBench): fraction of frame pairs whose mean of the top 5% flow magnitudes
      exceeds 6 px at a 256 px short side (scaled to this resolution).
    - motion_smoothness (approx. VBench): each middle frame predicted from its neighbours by warping
      halfway along the DIS flow between them; (255 - mean absolute error) / 255, 1 is perfectly smooth.
    - temporal_flicker (VBench-style): (255 - mean absolute change of static pixels, flow < 0.5 px) / 255.

    `flows`: the DIS flows between consecutive frames when already computed.
    """
    if len(frames) < 3:
        return {"dynamic_degree": None, "motion_smoothness": None, "temporal_flicker": None}
    flows = dis_flows(frames) if flows is None else flows
    h, w = flows[0].shape[:2]
    thresh = 6.0 * min(h, w) / 256.0
    tops = []
    for f in flows:
        mag = np.hypot(f[..., 0], f[..., 1]).ravel()
        k = max(1, mag.size // 20)
        tops.append(float(np.partition(mag, -k)[-k:].mean()))
    gray = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY).astype(np.float32) for f in frames]
    skip = dis_flows(frames, step=2)
    errs = []
    for t, f in enumerate(skip):
        # the middle frame's pixel x came from x - f/2 in the frame before and goes to x + f/2 in the one after
        mid = 0.5 * (_warp(gray[t], f, -0.5) + _warp(gray[t + 2], f, 0.5))
        errs.append(float(np.abs(mid - gray[t + 1]).mean()))
    flicker = []
    for t, f in enumerate(flows):
        static = np.hypot(f[..., 0], f[..., 1]) < 0.5
        if static.any():
            flicker.append(float(np.abs(gray[t + 1] - gray[t])[static].mean()))
    return {
        "dynamic_degree": float(np.mean(np.array(tops) > thresh)),
        "motion_smoothness": (255.0 - float(np.mean(errs))) / 255.0,
        "temporal_flicker": (255.0 - float(np.mean(flicker))) / 255.0 if flicker else None,
    }

