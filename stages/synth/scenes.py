"""Procedural physics scenes with exact ground truth: closed-form or event-driven motion, no time-stepping error.

World units are metres and seconds, y up, the floor at y = 0. `Scene.objects` holds every object's
state at each frame time in pixels (image x right, y down) and pixels per second, converted with the
scene's `ppm` (pixels per metre). Every scene is a pure function of (kind, seed, config): the same
inputs give the same numbers, so ground truth can always be regenerated.
"""

from __future__ import annotations

import colorsys
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from physflow.stages.synth.config import SynthConfig

# Hue (OpenCV scale 0-180) and name of the ball colours; neighbours differ by >= 20 hue steps.
PALETTE: tuple[tuple[int, str], ...] = (
    (0, "red"), (15, "orange"), (30, "yellow"), (60, "green"), (90, "cyan"), (115, "blue"), (140, "purple"),
    (160, "pink"),
)
MAX_TRIES = 1000


@dataclass
class SceneObject:
    """One rigid object: its look and its exact state at every frame (pixels, pixels per second)."""

    object_id: int
    kind: str  # "ball", "box", "bob"
    hue: int
    color_name: str
    radius_px: float  # disc radius; half the side for a box
    mass: float  # kg
    pos: np.ndarray  # (T, 2) centre, px
    vel: np.ndarray  # (T, 2) px/s
    scale: np.ndarray | None = None  # (T,) size factor per frame; None: rigid (only broken videos change it)
    visible: np.ndarray | None = None  # (T,) bool; None: always drawn
    masks: np.ndarray | None = None  # (T, H, W) bool for a rendered mesh (a human); None: from the geometry

    def radius_at(self, t: int) -> float:
        return self.radius_px * (1.0 if self.scale is None else float(self.scale[t]))

    def shown(self, t: int) -> bool:
        return self.visible is None or bool(self.visible[t])

    @property
    def rgb(self) -> tuple[int, int, int]:
        r, g, b = colorsys.hsv_to_rgb(self.hue / 180.0, 0.85, 0.95)
        return round(r * 255), round(g * 255), round(b * 255)


@dataclass
class Scene:
    kind: str
    seed: int
    width: int
    height: int
    fps: float
    ppm: float  # pixels per metre
    floor_px: int  # rows of floor at the bottom (0: no floor, a top-down table)
    params: dict[str, Any]
    caption: str
    objects: list[SceneObject]
    pivot_px: tuple[float, float] | None = None  # pendulum pivot
    events: list[float] = field(default_factory=list)  # bounce / collision times, s
    layers: list[tuple[np.ndarray, np.ndarray]] | None = None  # per frame (RGB, coverage) of a rendered mesh
    human: dict[str, np.ndarray] | None = None  # per frame COCO-17 keypoints (px) and SMPL parameters

    @property
    def n_frames(self) -> int:
        return int(self.objects[0].pos.shape[0])


class _Frame:
    """Metres (y up, floor at 0) to pixels (y down) for one clip."""

    def __init__(self, cfg: SynthConfig, floor: bool):
        self.floor_px = round(cfg.height * 0.08) if floor else 0
        self.ppm = (cfg.height - self.floor_px) / cfg.world_height_m
        self.cfg = cfg
        self.times = np.arange(cfg.n_frames) / cfg.fps

    @property
    def width_m(self) -> float:
        return self.cfg.width / self.ppm

    def px(self, p: np.ndarray) -> np.ndarray:
        out = np.empty_like(p, dtype=np.float64)
        out[..., 0] = p[..., 0] * self.ppm
        out[..., 1] = self.cfg.height - self.floor_px - p[..., 1] * self.ppm
        return out

    def px_vel(self, v: np.ndarray) -> np.ndarray:
        return np.stack([v[..., 0] * self.ppm, -v[..., 1] * self.ppm], axis=-1)


def _hues(rng: np.random.Generator, n: int) -> list[tuple[int, str]]:
    idx = rng.choice(len(PALETTE), size=n, replace=False)
    return [PALETTE[i] for i in idx]


def _mass(radius_m: float) -> float:
    """Mass of a uniform disc of 25 kg per square metre (a 0.2 m ball weighs about 3.1 kg)."""
    return float(25.0 * np.pi * radius_m**2)


def _inside(fr: _Frame, obj_px: np.ndarray, r_px: float, margin: float = 2.0) -> bool:
    x, y = obj_px[:, 0], obj_px[:, 1]
    return bool((x - r_px >= margin).all() and (x + r_px <= fr.cfg.width - margin).all()
                and (y - r_px >= margin).all() and (y + r_px <= fr.cfg.height - margin).all())


# -- free fall and projectiles: exact parabolas between exact bounce times -------------------------------------


def _ballistic(y0: float, vy0: float, g: float, e: float, *, r: float, times: np.ndarray) -> tuple[np.ndarray, ...]:
    """Height and vertical velocity of a ball of radius r bouncing on y = 0 at each time, and the bounce times.

    Flight segments start at (time, height, upward speed); a bounce slower than 5 cm/s leaves the ball at rest.
    """
    segs: list[tuple[float, float, float | None]] = [(0.0, y0, vy0)]
    t0, y, vy = 0.0, y0, vy0
    while len(segs) < 50:
        dt = (vy + np.sqrt(vy * vy + 2 * g * (y - r))) / g  # contact when y + vy t - g t^2 / 2 = r
        if t0 + dt > times[-1] + 1.0:
            break
        t0, y, vy = t0 + dt, r, -e * (vy - g * dt)
        segs.append((t0, r, vy if vy >= 0.05 else None))
        if vy < 0.05:
            break
    starts = np.array([s[0] for s in segs])
    ys, vys = np.empty_like(times), np.empty_like(times)
    for i, k in enumerate(np.searchsorted(starts, times, side="right") - 1):
        ts, yy, v = segs[k]
        dt = times[i] - ts
        ys[i], vys[i] = (r, 0.0) if v is None else (yy + v * dt - 0.5 * g * dt * dt, v - g * dt)
    return ys, vys, starts[1:]


def _drop(rng: np.random.Generator, fr: _Frame, seed: int, projectile: bool) -> Scene:
    g = fr.cfg.gravity
    for _ in range(MAX_TRIES):
        r = float(rng.uniform(0.12, 0.2))
        e = float(rng.uniform(0.55, 0.85))
        y0 = float(rng.uniform(0.55, 0.85) * fr.cfg.world_height_m)
        vx = float(rng.uniform(0.4, 1.2)) * (1 if rng.random() < 0.5 else -1) if projectile else 0.0
        vy0 = float(rng.uniform(0.0, 1.5)) if projectile else 0.0
        x0 = float(rng.uniform(r + 0.1, fr.width_m - r - 0.1))
        ys, vys, bounces = _ballistic(y0, vy0, g, e, r=r, times=fr.times)
        p = fr.px(np.stack([x0 + vx * fr.times, ys], axis=1))
        if _inside(fr, p, r * fr.ppm) and len(bounces[bounces < fr.times[-1]]) >= 1:
            break
    else:
        raise RuntimeError(f"no valid drop scene for seed {seed}")
    hue, name = _hues(rng, 1)[0]
    v = fr.px_vel(np.stack([np.full_like(ys, vx), vys], axis=1))
    ball = SceneObject(0, "ball", hue, name, r * fr.ppm, _mass(r), p, v)
    n_b = int((bounces < fr.times[-1]).sum())
    what = f"thrown sideways at {abs(vx):.1f} m/s from {y0:.1f} m" if projectile else f"dropped from {y0:.1f} m"
    caption = f"a {name} ball {what} bounces {_times(n_b)} on the floor"
    params = {"g": g, "restitution": e, "mass": [ball.mass], "radius_m": [r], "height_m": y0, "vx": vx, "vy0": vy0}
    return Scene("projectile" if projectile else "free_fall", seed, fr.cfg.width, fr.cfg.height, fr.cfg.fps, fr.ppm,
                 fr.floor_px, params, caption, [ball], events=[float(b) for b in bounces if b < fr.times[-1]])


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


# -- collisions: event-driven discs on a table (no gravity, no walls) ---------------------------------------------


def _collide(p: np.ndarray, v: np.ndarray, r: np.ndarray, m: np.ndarray, *, e: float, t_end: float) -> list[tuple]:
    """Exact disc-disc collisions: a list of (time, positions, velocities) after each event, starting at t=0."""
    log = [(0.0, p.copy(), v.copy())]
    t = 0.0
    for _ in range(20):
        best, pair = np.inf, None
        for i in range(len(r)):
            for j in range(i + 1, len(r)):
                dp, dv = p[j] - p[i], v[j] - v[i]
                a, b, c = dv @ dv, 2 * dp @ dv, dp @ dp - (r[i] + r[j]) ** 2
                disc = b * b - 4 * a * c
                if a < 1e-12 or b >= 0 or disc < 0:
                    continue
                tc = (-b - np.sqrt(disc)) / (2 * a)
                if 1e-9 < tc < best:
                    best, pair = tc, (i, j)
        if pair is None or t + best > t_end:
            break
        p, t = p + v * best, t + best
        i, j = pair
        n = (p[j] - p[i]) / np.linalg.norm(p[j] - p[i])
        u = (v[i] - v[j]) @ n
        impulse = (1 + e) * u / (1 / m[i] + 1 / m[j])
        v = v.copy()
        v[i] -= impulse / m[i] * n
        v[j] += impulse / m[j] * n
        log.append((t, p.copy(), v.copy()))
    return log


def _sample_log(log: list[tuple], times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts = np.array([entry[0] for entry in log])
    idx = np.searchsorted(starts, times, side="right") - 1
    pos = np.stack([log[k][1] + log[k][2] * (t - log[k][0]) for k, t in zip(idx, times, strict=True)], axis=1)
    vel = np.stack([log[k][2] for k in idx], axis=1)
    return pos, vel  # (n_objects, T, 2)


def _two_ball_start(rng: np.random.Generator, fr: _Frame, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two balls placed so that they meet near the middle of the frame at a chosen time."""
    t_c = float(rng.uniform(0.35, 0.6)) * fr.times[-1]
    phi = float(rng.uniform(-0.5, 0.5))
    normal = np.array([np.cos(phi), np.sin(phi)])
    centre = np.array([fr.width_m / 2, fr.cfg.world_height_m / 2]) + rng.uniform(-0.2, 0.2, 2)
    v = np.array([[rng.uniform(0.6, 1.6), rng.uniform(-0.3, 0.3)], [rng.uniform(-1.2, 0.2), rng.uniform(-0.3, 0.3)]])
    contact = np.stack([centre - normal * r[0], centre + normal * r[1]])
    return contact - v * t_c, v


def _collision(rng: np.random.Generator, fr: _Frame, seed: int, n_balls: int, elastic: bool) -> Scene:
    dt_min = 5.5 / fr.cfg.fps  # events at least this far apart, so each has clean frames on both sides
    for _ in range(MAX_TRIES):
        r = rng.uniform(0.14, 0.24, n_balls)
        m = np.array([_mass(x) for x in r])
        e = 1.0 if elastic else float(rng.uniform(0.2, 0.6))
        p, v = _two_ball_start(rng, fr, r)
        if n_balls == 3:
            p = np.vstack([p, rng.uniform([r[2], r[2]], [fr.width_m - r[2], fr.cfg.world_height_m - r[2]])])
            v = np.vstack([v, rng.uniform(-0.6, 0.6, 2)])
        if any(np.linalg.norm(p[i] - p[j]) < r[i] + r[j] + 0.05 for i in range(n_balls) for j in range(i + 1, n_balls)):
            continue
        log = _collide(p, v, r, m, e=e, t_end=fr.times[-1])
        ev = [entry[0] for entry in log[1:]]
        pos, vel = _sample_log(log, fr.times)
        gaps = np.diff([0.0, *ev, fr.times[-1]])
        ok = len(ev) >= n_balls - 1 and (gaps >= dt_min).all()
        if ok and all(_inside(fr, fr.px(pos[i]), r[i] * fr.ppm) for i in range(n_balls)):
            break
    else:
        raise RuntimeError(f"no valid collision scene for seed {seed}")
    colours = _hues(rng, n_balls)
    objs = [SceneObject(i, "ball", h, name, float(r[i] * fr.ppm), float(m[i]), fr.px(pos[i]), fr.px_vel(vel[i]))
            for i, (h, name) in enumerate(colours)]
    names = " and ".join(o.color_name for o in objs) if n_balls == 2 else ", ".join(o.color_name for o in objs)
    kind = "elastic" if elastic else "inelastic"
    caption = f"{_count(n_balls)} balls ({names}) slide on a table and collide {kind}ally"
    params = {"g": 0.0, "restitution": e, "mass": m.tolist(), "radius_m": r.tolist(), "collisions": len(ev)}
    scene_kind = f"collision{n_balls}_{kind}"
    return Scene(scene_kind, seed, fr.cfg.width, fr.cfg.height, fr.cfg.fps, fr.ppm, 0, params, caption, objs,
                 events=ev)


def _count(n: int) -> str:
    return {2: "two", 3: "three"}.get(n, str(n))


# -- pendulum (RK4 with fine sub-steps: exact to float precision) and sliding with friction (closed form) ----------


def _pendulum_theta(theta0: float, g: float, length: float, times: np.ndarray, sub: int = 200) -> tuple[np.ndarray, ...]:
    def deriv(s: np.ndarray) -> np.ndarray:
        return np.array([s[1], -g / length * np.sin(s[0])])

    s, th, om = np.array([theta0, 0.0]), [theta0], [0.0]
    h = (times[1] - times[0]) / sub
    for _ in times[1:]:
        for _ in range(sub):
            k1 = deriv(s)
            k2 = deriv(s + h / 2 * k1)
            k3 = deriv(s + h / 2 * k2)
            k4 = deriv(s + h * k3)
            s = s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        th.append(s[0])
        om.append(s[1])
    return np.array(th), np.array(om)


def _pendulum(rng: np.random.Generator, fr: _Frame, seed: int) -> Scene:
    g = fr.cfg.gravity
    length = float(rng.uniform(0.45, 0.7)) * fr.cfg.world_height_m
    theta0 = float(rng.uniform(0.3, 0.8)) * (1 if rng.random() < 0.5 else -1)
    r = float(rng.uniform(0.1, 0.15))
    pivot = np.array([fr.width_m / 2, fr.cfg.world_height_m - 0.1])
    th, om = _pendulum_theta(theta0, g, length, fr.times)
    pos = pivot + length * np.stack([np.sin(th), -np.cos(th)], axis=1)
    vel = length * om[:, None] * np.stack([np.cos(th), np.sin(th)], axis=1)
    hue, name = _hues(rng, 1)[0]
    bob = SceneObject(0, "bob", hue, name, r * fr.ppm, _mass(r), fr.px(pos), fr.px_vel(vel))
    caption = f"a {name} pendulum bob on a {length:.1f} m string swings from {np.degrees(abs(theta0)):.0f} degrees"
    params = {"g": g, "length_m": length, "theta0": theta0, "mass": [bob.mass], "radius_m": [r]}
    pivot_px = fr.px(pivot)
    return Scene("pendulum", seed, fr.cfg.width, fr.cfg.height, fr.cfg.fps, fr.ppm, fr.floor_px, params, caption,
                 [bob], pivot_px=(float(pivot_px[0]), float(pivot_px[1])))


def _sliding(rng: np.random.Generator, fr: _Frame, seed: int) -> Scene:
    g = fr.cfg.gravity
    for _ in range(MAX_TRIES):
        half = float(rng.uniform(0.12, 0.2))
        mu = float(rng.uniform(0.15, 0.45))
        v0 = float(rng.uniform(1.2, 2.6))
        t_stop = v0 / (mu * g)
        dist = v0 * t_stop / 2
        if dist + 2 * half + 0.2 < fr.width_m and t_stop < fr.times[-1] * 0.8:
            break
    else:
        raise RuntimeError(f"no valid sliding scene for seed {seed}")
    direction = 1 if rng.random() < 0.5 else -1
    x0 = half + 0.1 if direction > 0 else fr.width_m - half - 0.1
    t = np.minimum(fr.times, t_stop)
    x = x0 + direction * (v0 * t - 0.5 * mu * g * t * t)
    vx = direction * np.where(fr.times < t_stop, v0 - mu * g * fr.times, 0.0)
    hue, name = _hues(rng, 1)[0]
    pos = fr.px(np.stack([x, np.full_like(x, half)], axis=1))
    box = SceneObject(0, "box", hue, name, half * fr.ppm, float(25.0 * (2 * half) ** 2), pos,
                      fr.px_vel(np.stack([vx, np.zeros_like(vx)], axis=1)))
    caption = f"a {name} box slides {dist:.1f} m across the floor and stops (friction {mu:.2f})"
    params = {"g": g, "friction": mu, "v0": v0, "mass": [box.mass], "half_size_m": half, "t_stop": t_stop}
    return Scene("sliding", seed, fr.cfg.width, fr.cfg.height, fr.cfg.fps, fr.ppm, fr.floor_px, params, caption, [box],
                 events=[t_stop] if t_stop < fr.times[-1] else [])


def _open(rng: np.random.Generator, fr: _Frame, seed: int, weak_gravity: bool) -> Scene:
    from physflow.stages.synth.exits import open_scene

    return open_scene(rng, fr, seed, weak_gravity)


def _human(rng: np.random.Generator, fr: _Frame, seed: int, kind: str) -> Scene:
    from physflow.stages.synth.human import build_human  # needs torch and smplx: loaded only for human scenes

    return build_human(rng, fr, seed, kind)


_BUILDERS: dict[str, tuple[bool, Callable[[np.random.Generator, _Frame, int], Scene]]] = {
    "free_fall": (True, lambda rng, fr, s: _drop(rng, fr, s, projectile=False)),
    "projectile": (True, lambda rng, fr, s: _drop(rng, fr, s, projectile=True)),
    "collision2_elastic": (False, lambda rng, fr, s: _collision(rng, fr, s, 2, elastic=True)),
    "collision2_inelastic": (False, lambda rng, fr, s: _collision(rng, fr, s, 2, elastic=False)),
    "collision3_elastic": (False, lambda rng, fr, s: _collision(rng, fr, s, 3, elastic=True)),
    "pendulum": (True, _pendulum),
    "sliding": (True, _sliding),
    **{kind: (True, functools.partial(_human, kind=kind)) for kind in ("human_walk", "human_jump", "human_wave")},
    "weak_gravity": (False, functools.partial(_open, weak_gravity=True)),
    "drift": (False, functools.partial(_open, weak_gravity=False)),
}
SCENE_KINDS: tuple[str, ...] = tuple(_BUILDERS)


def simulate(kind: str, seed: int, config: SynthConfig) -> Scene:
    """The scene `kind` drawn from `seed`: exact states of every object at each frame time."""
    if kind not in _BUILDERS:
        raise ValueError(f"unknown scene kind {kind!r}; known: {', '.join(SCENE_KINDS)}")
    floor, build = _BUILDERS[kind]
    rng = np.random.default_rng([seed, SCENE_KINDS.index(kind)])
    return build(rng, _Frame(config, floor), seed)
