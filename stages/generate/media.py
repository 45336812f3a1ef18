"""Frames in and out of the generate stage: tensors <-> uint8, label maps as colour, previews, motion as flow
RGB, and the physics measures of a generated video."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from physflow.stages.common.flow_encoding import flow_to_rgb
from physflow.stages.common.prior.scene import Camera, object_tracks
from physflow.stages.generate.prior.config import ExtractConfig
from physflow.stages.generate.prior.phase import motion_measures

_PALETTE = np.random.default_rng(7).integers(40, 256, (256, 3)).astype(np.uint8)
_PALETTE[0] = 0


def image_tensor(image: np.ndarray, width: int, height: int) -> torch.Tensor:
    """RGB uint8 [H0, W0, 3] -> [1, 3, height, width] in [-1, 1] (resized with area interpolation)."""
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(resized).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def video_uint8(video: torch.Tensor) -> np.ndarray:
    """[3, F, H, W] in [-1, 1] -> [F, H, W, 3] uint8."""
    return ((video.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).cpu().numpy()


def labels_rgb(labels: np.ndarray) -> np.ndarray:
    """Part label maps [F, H, W] uint8 -> colour frames [F, H, W, 3] (label 0 black)."""
    return _PALETTE[labels]


def side_by_side(*videos: np.ndarray) -> np.ndarray:
    """Videos [F, H, W, 3] of equal size, left to right with a 2-pixel white gap."""
    f, h = videos[0].shape[:2]
    gap = np.full((f, h, 2, 3), 255, np.uint8)
    parts: list[np.ndarray] = []
    for v in videos:
        parts += [v, gap]
    return np.concatenate(parts[:-1], axis=2)


def motion_flow(labels: np.ndarray, centres_px: np.ndarray, first_label: int) -> np.ndarray:
    """Forward flow [F, H, W, 2] (pixels) of objects drawn in labels [F, H, W] moving by centres_px [F, N, 2]:
    every pixel of object n at frame t moves as its centre does to frame t + 1 (the last frame repeats)."""
    f, h, w = labels.shape
    flow = np.zeros((f, h, w, 2), np.float32)
    steps = np.diff(centres_px, axis=0, append=centres_px[-1:])  # [F, N, 2]
    steps[-1] = steps[-2] if f > 1 else 0
    for n in range(centres_px.shape[1]):
        inside = labels == first_label + n  # [F, H, W]
        flow[inside] = np.repeat(steps[:, n][:, None], h * w, 1).reshape(f, h, w, 2)[inside]
    return flow


def flow_video_tensor(flow: np.ndarray) -> torch.Tensor:
    """Flow [F, H, W, 2] -> VideoJAM flow RGB as [1, 3, F, H, W] in [-1, 1]."""
    rgb = np.stack([flow_to_rgb(f) for f in flow])  # [F, H, W, 3]
    return torch.from_numpy(rgb).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0


def video_measures(frames: np.ndarray, fps: float, extract: ExtractConfig) -> dict[str, Any]:
    """Physics measures of a generated video [F, H, W, 3]: of its moving-object tracks lifted to metres
    (gravity residual, ground penetration, jitter), plus temporal flicker (mean |frame difference|, 0-255);
    with the physics_metrics stage installed, its measures too, under "physics_metrics"."""
    f, h, w = frames.shape[:3]
    out: dict[str, Any] = {"frames": f}
    try:
        from physflow.stages.physics_metrics import measure_frames
    except ImportError:  # the physics_metrics stage is optional here
        measure_frames = None
    if measure_frames is not None and f >= 3:
        out["physics_metrics"] = measure_frames(frames, fps)
    out["flicker"] = round(float(np.abs(np.diff(frames.astype(np.int16), axis=0)).mean()), 4) if f > 1 else 0.0
    tracks = object_tracks(frames, max_objects=extract.max_objects, threshold=extract.diff_threshold,
                           min_area=extract.min_area)
    out["objects"] = int(tracks.centres.shape[1])
    if out["objects"]:
        camera = Camera.for_frame(w, h, extract.metres_high)
        pts = camera.to_world(tracks.centres)
        free = np.full(out["objects"], extract.free_objects)
        out.update(motion_measures(pts, tracks.radius / camera.ppm, fps, free, ""))
    return out
