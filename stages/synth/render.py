"""Rendering of synthetic scenes with numpy/OpenCV: anti-aliased shaded objects over a static textured background.

Pixel centres sit at integer coordinates (pixel column j covers x in [j - 0.5, j + 0.5)), the same
convention the colour tracker uses for centroids. Objects only translate (their shading is fixed to the
light), so the analytic optical flow of an object's pixels is its centre's displacement.
"""

from __future__ import annotations

import cv2
import numpy as np

from physflow.stages.synth.scenes import Scene, SceneObject

_LIGHT = np.array([-0.45, -0.55, 0.70]) / np.linalg.norm([-0.45, -0.55, 0.70])
_STRING_RGB = (55, 55, 60)
_SHIFT = 4  # fixed-point bits for sub-pixel cv2 drawing


def background(scene: Scene) -> np.ndarray:
    """A static low-saturation texture (smooth noise plus grain), with a floor band when the scene has one."""
    rng = np.random.default_rng([scene.seed, 7919])
    h, w = scene.height, scene.width
    base = rng.uniform(150, 215)
    coarse = cv2.resize(rng.normal(0, 1, (max(2, h // 16), max(2, w // 16))).astype(np.float32), (w, h),
                        interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 1, (h, w)).astype(np.float32)
    lum = base + 14 * coarse + 4 * grain
    tint = 1.0 + rng.uniform(-0.04, 0.04, 3)
    img = lum[..., None] * tint[None, None, :]
    if scene.floor_px:
        floor = np.array([118, 106, 96]) * (1 + 0.06 * grain[-scene.floor_px:, :, None])
        img[-scene.floor_px:] = floor
        img[-scene.floor_px] = (70, 64, 58)  # the floor's edge line
    return np.clip(img, 0, 255).astype(np.uint8)


def _window(obj: SceneObject, t: int, h: int, w: int) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    cx, cy = obj.pos[t]
    reach = obj.radius_at(t) + 2
    y0, y1 = max(0, int(np.floor(cy - reach))), min(h, int(np.ceil(cy + reach)) + 1)
    x0, x1 = max(0, int(np.floor(cx - reach))), min(w, int(np.ceil(cx + reach)) + 1)
    y1, x1 = max(y0, y1), max(x0, x1)  # an object wholly outside the frame: an empty window
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    return slice(y0, y1), slice(x0, x1), xx - cx, yy - cy


def coverage(obj: SceneObject, t: int, h: int, w: int) -> tuple[slice, slice, np.ndarray]:
    """Fraction of each pixel (in a window around the object) covered by the object at frame t."""
    sy, sx, dx, dy = _window(obj, t, h, w)
    r = obj.radius_at(t)
    if obj.kind == "box":
        alpha = np.clip(r + 0.5 - np.abs(dx), 0, 1) * np.clip(r + 0.5 - np.abs(dy), 0, 1)
    else:
        alpha = np.clip(r + 0.5 - np.hypot(dx, dy), 0, 1)
    return sy, sx, alpha


def _shade(obj: SceneObject, t: int, h: int, w: int) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    """(window, coverage, RGB colour) of one object: Lambert plus a small specular highlight."""
    sy, sx, dx, dy = _window(obj, t, h, w)
    _, _, alpha = coverage(obj, t, h, w)
    base = np.array(obj.rgb, np.float64)
    r = obj.radius_at(t)
    if obj.kind == "box":
        lit = 0.75 + 0.25 * np.clip(-dy / r, -1, 1) * 0.5 - 0.15 * (np.maximum(np.abs(dx), np.abs(dy)) > r - 1.5)
        rgb = base * lit[..., None]
    else:
        rho2 = np.clip((dx * dx + dy * dy) / (r * r), 0, 1)
        normal = np.stack([dx / r, dy / r, np.sqrt(1 - rho2)], axis=-1)
        lambert = np.clip(normal @ _LIGHT, 0, 1)
        half = _LIGHT + np.array([0, 0, 1.0])
        spec = np.clip(normal @ (half / np.linalg.norm(half)), 0, 1) ** 24
        rgb = base * (0.5 + 0.5 * lambert)[..., None]
        rgb = rgb + 0.3 * spec[..., None] * (255 - rgb)
    return sy, sx, alpha, rgb


def _string_layer(scene: Scene, t: int) -> np.ndarray:
    """Coverage (0..1) of the pendulum string at frame t (OpenCV anti-aliased line)."""
    layer = np.zeros((scene.height, scene.width), np.uint8)
    if scene.pivot_px is None:
        return layer.astype(np.float32)
    scale = 1 << _SHIFT
    a = (round(scene.pivot_px[0] * scale), round(scene.pivot_px[1] * scale))
    b = (round(scene.objects[0].pos[t][0] * scale), round(scene.objects[0].pos[t][1] * scale))
    cv2.line(layer, a, b, 255, 1, cv2.LINE_AA, _SHIFT)
    return layer.astype(np.float32) / 255.0


def render_frames(scene: Scene) -> list[np.ndarray]:
    """Every frame of the scene as H x W x 3 uint8 RGB."""
    bg = background(scene).astype(np.float64)
    frames = []
    for t in range(scene.n_frames):
        img = bg.copy()
        if scene.pivot_px is not None:
            s = _string_layer(scene, t)[..., None]
            img = img * (1 - s) + np.array(_STRING_RGB) * s
        if scene.layers is not None:
            rgb, alpha = scene.layers[t]
            img = img * (1 - alpha[..., None]) + rgb * alpha[..., None]
        for obj in (o for o in scene.objects if o.shown(t) and o.masks is None):
            sy, sx, alpha, rgb = _shade(obj, t, scene.height, scene.width)
            a = alpha[..., None]
            img[sy, sx] = img[sy, sx] * (1 - a) + rgb * a
        frames.append(np.clip(np.round(img), 0, 255).astype(np.uint8))
    return frames


def object_mask(obj: SceneObject, t: int, h: int, w: int) -> np.ndarray:
    """Binary mask (H x W bool) of the pixels the object covers at least half of at frame t."""
    if obj.masks is not None:
        return obj.masks[t] & obj.shown(t)
    mask = np.zeros((h, w), bool)
    if not obj.shown(t):
        return mask
    sy, sx, alpha = coverage(obj, t, h, w)
    mask[sy, sx] = alpha >= 0.5
    return mask


def analytic_flow(scene: Scene) -> np.ndarray:
    """Exact forward optical flow (T-1, H, W, 2) float32 in pixels: frame t's pixels to frame t+1.

    Background pixels do not move; an object's pixels move with its centre; string pixels rotate about
    the pivot. Objects are drawn in order, so a later object's flow wins where they overlap.
    """
    if scene.layers is not None:
        raise ValueError(f"no exact flow for a deforming mesh ({scene.kind})")
    h, w = scene.height, scene.width
    flow = np.zeros((scene.n_frames - 1, h, w, 2), np.float32)
    for t in range(scene.n_frames - 1):
        if scene.pivot_px is not None:
            _string_flow(scene, t, flow[t])
        for obj in scene.objects:
            flow[t][object_mask(obj, t, h, w)] = obj.pos[t + 1] - obj.pos[t]
    return flow


def _string_flow(scene: Scene, t: int, out: np.ndarray) -> None:
    assert scene.pivot_px is not None
    pivot = np.array(scene.pivot_px)
    bob = scene.objects[0].pos
    angle = np.arctan2(*(bob[t + 1] - pivot)[::-1]) - np.arctan2(*(bob[t] - pivot)[::-1])
    ys, xs = np.nonzero(_string_layer(scene, t) >= 0.5)
    rel = np.stack([xs, ys], axis=1) - pivot
    c, s = np.cos(angle), np.sin(angle)
    moved = rel @ np.array([[c, s], [-s, c]])
    out[ys, xs] = moved - rel


def rle_encode(mask: np.ndarray) -> str:
    """Run lengths of a binary mask in row-major order, starting with a run of zeros: "n0 n1 n2 ..."."""
    flat = np.concatenate([[0], mask.ravel().astype(np.int8), [0]])
    changes = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[1], changes, [flat.size - 1]]))
    return " ".join(str(int(n)) for n in runs)


def rle_decode(text: str, shape: tuple[int, int]) -> np.ndarray:
    """The binary mask that `rle_encode` wrote."""
    flat = np.zeros(shape[0] * shape[1], bool)
    pos, value = 0, False
    for n in (int(x) for x in text.split()):
        flat[pos:pos + n] = value
        pos, value = pos + n, not value
    return flat.reshape(shape)
