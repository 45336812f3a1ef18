"""VideoJAM's flow-as-RGB encoding and its decoder (DESIGN §7).

A flow field d becomes an RGB frame: hue from the direction of d, opacity from the normalised magnitude
m = min(1, |d| / (sigma * sqrt(H^2 + W^2))) (sigma = 0.15: a displacement of 15% of the frame diagonal is fully
opaque), composited over a fixed grey background b:
RGB = m * C(hue) + (1 - m) * b, with C a fully saturated, full-value colour.

Because C has max 1 and min 0, max(RGB) - min(RGB) = m for any grey b, so the decoder recovers m and then C,
hence the direction, without knowing more than b. Magnitude is recoverable where m < 1 (saturated pixels
give a lower bound); direction is meaningful only where m is well above the quantisation step.
"""

from __future__ import annotations

import cv2
import numpy as np

DEFAULT_SIGMA = 0.15


def normalised_magnitude(flow: np.ndarray, sigma: float = DEFAULT_SIGMA) -> np.ndarray:
    """m = min(1, |d| / (sigma * sqrt(H^2 + W^2))) per pixel, H x W float32 in [0, 1]."""
    height, width = flow.shape[:2]
    mag = np.hypot(flow[..., 0], flow[..., 1])
    return np.minimum(1.0, mag / (sigma * np.hypot(height, width))).astype(np.float32)


def direction_deg(flow: np.ndarray) -> np.ndarray:
    """Direction of each vector in degrees [0, 360): 0 = +x (right), 90 = +y (down in image coordinates)."""
    return (np.degrees(np.arctan2(flow[..., 1], flow[..., 0])) % 360.0).astype(np.float32)


def flow_to_rgb(flow: np.ndarray, sigma: float = DEFAULT_SIGMA, background: int = 255) -> np.ndarray:
    """Encode an H x W x 2 flow field as an H x W x 3 uint8 RGB frame."""
    m = normalised_magnitude(flow, sigma)
    hsv = np.stack([direction_deg(flow), np.ones_like(m), np.ones_like(m)], axis=-1)
    color = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)  # float32: H in [0, 360), S and V in [0, 1]
    bg = background / 255.0
    rgb = m[..., None] * color + (1.0 - m[..., None]) * bg
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def rgb_to_flow(
    rgb: np.ndarray, sigma: float = DEFAULT_SIGMA, background: int = 255
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode an encoded frame: (direction in degrees, magnitude in pixels, normalised magnitude m).

    The magnitude is sigma * sqrt(H^2 + W^2) * m; where m reached 1 it is a lower bound.
    """
    p = rgb.astype(np.float32) / 255.0
    m = np.clip(p.max(axis=2) - p.min(axis=2), 0.0, 1.0)
    bg = background / 255.0
    color = (p - (1.0 - m[..., None]) * bg) / np.maximum(m[..., None], 1e-6)
    hsv = cv2.cvtColor(np.clip(color, 0.0, 1.0).astype(np.float32), cv2.COLOR_RGB2HSV)
    height, width = rgb.shape[:2]
    magnitude = m * sigma * np.hypot(height, width)
    return hsv[..., 0].astype(np.float32), magnitude.astype(np.float32), m


def angle_error_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest absolute difference between two angle arrays in degrees, in [0, 180]."""
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) % 360.0
    return np.minimum(d, 360.0 - d)
