"""The demo: write a few small videos of moving shapes, ingest them, and return the catalog root."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from physflow.stages.common.video_io import write_video

W, H, FPS, N = 192, 128, 24, 48


def _canvas(t: int) -> np.ndarray:
    img = np.full((H, W, 3), 235, np.uint8)
    img[H - 12:] = (120, 100, 80)  # floor
    return img


def _bouncing_ball() -> list[np.ndarray]:
    frames, y, vy, g, e = [], 20.0, 0.0, 900.0, 0.75
    for t in range(N):
        img = _canvas(t)
        cv2.circle(img, (60, int(y)), 10, (200, 40, 40), -1, lineType=cv2.LINE_AA)
        frames.append(img)
        vy += g / FPS
        y += vy / FPS
        if y > H - 22:
            y, vy = H - 22, -vy * e
    return frames


def _sliding_box() -> list[np.ndarray]:
    frames, x, vx, mu_g = [], 10.0, 160.0, 120.0
    for t in range(N):
        img = _canvas(t)
        cv2.rectangle(img, (int(x), H - 32), (int(x) + 20, H - 12), (40, 90, 200), -1)
        frames.append(img)
        x += vx / FPS
        vx = max(0.0, vx - mu_g / FPS)
    return frames


def _pendulum() -> list[np.ndarray]:
    frames, length, theta, omega, g = [], 70.0, 0.9, 0.0, 9.81 * 40
    for t in range(N):
        img = _canvas(t)
        px, py = W // 2 + length * np.sin(theta), 10 + length * np.cos(theta)
        cv2.line(img, (W // 2, 10), (int(px), int(py)), (60, 60, 60), 2, cv2.LINE_AA)
        cv2.circle(img, (int(px), int(py)), 8, (40, 160, 60), -1, lineType=cv2.LINE_AA)
        frames.append(img)
        omega -= g / length * np.sin(theta) / FPS
        theta += omega / FPS
    return frames


SCENES = {"bouncing_ball": _bouncing_ball, "sliding_box": _sliding_box, "pendulum": _pendulum}


def write_demo_videos(folder: Path) -> list[Path]:
    """Three shape videos (H.264 MP4) and one truncated copy that ingest must report, not crash on."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in SCENES.items():
        path = folder / f"{name}.mp4"
        if not path.exists():
            write_video(path, make(), FPS)
        paths.append(path)
    broken = folder / "truncated_copy.mp4"
    if not broken.exists():
        data = paths[0].read_bytes()
        broken.write_bytes(data[: len(data) // 3])
    return [*paths, broken]
