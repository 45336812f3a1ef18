"""A synthetic scene filmed by a moving camera: the rendered world is a canvas, the camera a window over it that
pans and zooms along a known path, so the camera's true frame-to-frame motion is exact ground truth."""

from __future__ import annotations

import cv2
import numpy as np

from physflow.stages.synth.render import render_frames
from physflow.stages.synth.scenes import Scene

CAMERA_PATHS = ("pan", "zoom", "pan_zoom")


def camera_matrices(scene: Scene, path: str, out_size: tuple[int, int]) -> list[np.ndarray]:
    """Per frame, the 3x3 map from canvas pixels to the camera's image of size (H, W): the window centre moves
    across the canvas (pan) and/or the zoom grows from 1 to 1.25 (zoom), smoothly over the clip."""
    if path not in CAMERA_PATHS:
        raise ValueError(f"unknown camera path {path!r}; known: {', '.join(CAMERA_PATHS)}")
    h, w = out_size
    u = np.linspace(0.0, 1.0, scene.n_frames)
    ease = 0.5 - 0.5 * np.cos(np.pi * u)  # starts and stops gently, as a camera operator would
    zoom = 1.0 + 0.25 * ease if "zoom" in path else np.ones_like(u)
    mats = []
    for t in range(scene.n_frames):
        half_w, half_h = w / 2 / zoom[t], h / 2 / zoom[t]
        if "pan" in path:
            cx = half_w + ease[t] * (scene.width - 2 * half_w)
            cy = scene.height / 2 + 0.15 * (scene.height - 2 * half_h) * np.sin(np.pi * u[t])
        else:
            cx, cy = scene.width / 2, scene.height / 2
        s = zoom[t]
        mats.append(np.array([[s, 0.0, w / 2 - s * cx], [0.0, s, h / 2 - s * cy], [0.0, 0.0, 1.0]]))
    return mats


def filmed_frames(scene: Scene, path: str, out_size: tuple[int, int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The camera's frames (H x W x 3 uint8) and its true motions, frame t to t+1 (3x3, image pixels)."""
    mats = camera_matrices(scene, path, out_size)
    frames = [cv2.warpAffine(f, m[:2], (out_size[1], out_size[0]), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT) for f, m in zip(render_frames(scene), mats, strict=True)]
    motions = [mats[t + 1] @ np.linalg.inv(mats[t]) for t in range(len(mats) - 1)]
    return frames, motions
