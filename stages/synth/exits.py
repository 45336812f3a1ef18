"""Open scenes without floor or walls: balls that drift or fly under weak gravity and leave the frame.

`weak_gravity` draws g between 0.05 and 0.2 frame heights per s^2 (a world that falls slowly, as in physics
benchmarks rendered from a 2D engine), `drift` has no gravity at all (uniform motion). Balls never touch each
other; at least one of them crosses the frame border, so measures must tell an object leaving from one vanishing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from physflow.stages.synth.scenes import Scene, _Frame

MAX_TRIES = 2000
MIN_WHOLE_FRAMES = 10  # every ball is fully in view for at least this many frames


def _paths(rng: np.random.Generator, fr: _Frame, n: int, g: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Radii (m), start points and velocities (m, m/s; y up) and positions (n, T, 2) of n balls."""
    r = rng.uniform(0.1, 0.16, n)
    h, w, span = fr.cfg.world_height_m, fr.width_m, fr.times[-1]
    p0 = np.stack([rng.uniform(r, w - r), rng.uniform(0.35 * h, h - r)], axis=1)
    speed = rng.uniform(0.25, 0.7, n) * max(w, h) / span
    angle = rng.uniform(0, 2 * np.pi, n)
    v0 = np.stack([speed * np.cos(angle), 0.5 * speed * np.sin(angle)], axis=1)
    t = fr.times[None, :, None]
    pos = p0[:, None, :] + v0[:, None, :] * t - np.array([0.0, 0.5 * g])[None, None, :] * t * t
    return r, p0, v0, pos


def _valid(fr: _Frame, r: np.ndarray, pos: np.ndarray) -> bool:
    w, h = fr.width_m, fr.cfg.world_height_m
    whole = (pos[..., 0] >= r[:, None]) & (pos[..., 0] <= w - r[:, None]) & (pos[..., 1] >= r[:, None]) \
        & (pos[..., 1] <= h - r[:, None])
    if not whole[:, 0].all() or (whole.sum(axis=1) < MIN_WHOLE_FRAMES).any() or whole[:, -1].all():
        return False
    for i in range(len(r)):
        for j in range(i + 1, len(r)):
            if (np.linalg.norm(pos[i] - pos[j], axis=1) < r[i] + r[j] + 0.05).any():
                return False
    return True


def open_scene(rng: np.random.Generator, fr: _Frame, seed: int, weak_gravity: bool) -> Scene:
    """Two balls in an open world; with `weak_gravity`, g is drawn in [0.05, 0.2] frame heights per s^2."""
    from physflow.stages.synth.scenes import Scene, SceneObject, _hues, _mass

    frac = float(rng.uniform(0.05, 0.2)) if weak_gravity else 0.0
    g = frac * fr.cfg.world_height_m  # the frame is world_height_m tall (no floor band)
    for _ in range(MAX_TRIES):
        r, _, v0, pos = _paths(rng, fr, 2, g)
        if _valid(fr, r, pos):
            break
    else:
        raise RuntimeError(f"no valid open scene for seed {seed}")
    vel = v0[:, None, :] - np.array([0.0, g])[None, None, :] * fr.times[None, :, None]
    objs = [SceneObject(i, "ball", hue, name, float(r[i] * fr.ppm), _mass(float(r[i])), fr.px(pos[i]),
                        fr.px_vel(vel[i])) for i, (hue, name) in enumerate(_hues(rng, 2))]
    names = " and ".join(o.color_name for o in objs)
    what = f"fall slowly (g = {frac:.2f} frame heights/s^2)" if weak_gravity else "drift at constant speed"
    caption = f"two balls ({names}) {what} and leave the frame"
    params = {"g": g, "g_frame_heights": frac, "mass": [o.mass for o in objs], "radius_m": r.tolist(),
              "leaves_frame": True}
    return Scene("weak_gravity" if weak_gravity else "drift", seed, fr.cfg.width, fr.cfg.height, fr.cfg.fps, fr.ppm,
                 0, params, caption, objs)
