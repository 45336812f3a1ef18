"""Physics-fidelity metrics of one clip from its object tracks, usable without the stage.

`track_metrics(tracks, fps, n_frames, (H, W), params)` returns one flat dict: fitted gravity and fit
residual, restitution at bounces, momentum and kinetic energy across collisions, continuity (teleports),
objects appearing or vanishing, radius drift, temporal order, and the list of violations found.
`truth_errors` compares tracks with exact ground truth when a synthetic scene is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from physflow.stages.physics_metrics.tracking import Track
from physflow.stages.physics_metrics.trajectory import (
    Segment,
    TrackPhysics,
    acceleration,
    analyse_track,
    boundaries,
    restitutions,
    smooth_fraction,
)


@dataclass(frozen=True)
class Thresholds:
    """Tolerances of the analysis and the limits beyond which a measure is reported as a violation."""

    fit_tol_px: float = 0.6  # a segment's quadratic fits every frame within this, px
    min_len: int = 5  # frames a segment needs for an acceleration / restitution estimate
    order_min_len: int = 4  # frames a segment needs to count as smooth motion
    min_smooth_fraction: float = 0.6  # below: frames out of temporal order
    teleport_px: float = 3.0  # continuity gap above max(this, teleport_radius_frac * radius): a teleport
    teleport_radius_frac: float = 0.5
    free_flight_accel: float = 0.3  # |a_y| above this fraction of frame height per s^2 marks a falling object
    border_px: float = 3.0  # an object within this of the frame edge may leave or enter legitimately
    max_radius_drift: float = 0.1  # relative change of radius over the clip
    max_momentum_change: float = 0.1  # |dP| / sum m|v| across a collision
    max_energy_gain: float = 1.1  # kinetic energy after / before above this: energy from nowhere


def _edge_distance(p: np.ndarray, r: float, shape: tuple[int, int]) -> float:
    h, w = shape
    return float(min(p[0] - r, w - 1 - p[0] - r, p[1] - r, h - 1 - p[1] - r))


def _existence(tracks: Sequence[Track], n_frames: int, shape: tuple[int, int], th: Thresholds) -> tuple[int, int]:
    """Objects that appear (after the first frame) or vanish (before the last, or in a gap) away from the edge."""
    appeared = vanished = 0
    for tr in tracks:
        r = float(np.median(tr.radius))
        starts = [0, *list(np.flatnonzero(np.diff(tr.frames) > 1) + 1)]
        ends = [*list(np.flatnonzero(np.diff(tr.frames) > 1)), len(tr.frames) - 1]
        for s in starts:
            if tr.frames[s] > 0 and _edge_distance(tr.pos[s], r, shape) > th.border_px:
                appeared += 1
        for e in ends:
            if tr.frames[e] < n_frames - 1 and _edge_distance(tr.pos[e], r, shape) > th.border_px:
                vanished += 1
    return appeared, vanished


def _radius_drift(tr: Track) -> float:
    if len(tr.frames) < 3:
        return 0.0
    slope = np.polyfit(tr.frames.astype(float), tr.radius, 1)[0]
    return float(slope * (tr.frames[-1] - tr.frames[0]) / np.median(tr.radius))


def _is_vertical(a: np.ndarray, shape: tuple[int, int], th: Thresholds) -> bool:
    return bool(abs(a[1]) > th.free_flight_accel * shape[0] and abs(a[0]) < 0.25 * abs(a[1]))


def _gravity(phys: Sequence[TrackPhysics], shape: tuple[int, int], th: Thresholds) -> tuple[float | None, float, list]:
    """Vertical acceleration (px/s^2) of free flight, the worst fit residual, and the tracks in free flight.

    A track's long segments that accelerate strongly and mostly downwards are free flight (a dropped
    ball, a jump's flight). An object on the ground can accelerate upwards too (a person crouching and
    pushing off), so only a track with no such segment whose average acceleration points straight up
    counts as falling upwards (an upside-down world).
    """
    acc, weights, falling, worst = [], [], [], 0.0
    for tp in phys:
        a, res = acceleration(tp, th.min_len)
        worst = max(worst, res)
        flight = [s for s in tp.fits if s.n >= th.min_len and s.accel[1] > 0 and _is_vertical(s.accel, shape, th)]
        if flight:
            w = [s.n * (tp.times[s.i1] - tp.times[s.i0]) ** 4 for s in flight]
            acc.append(float(np.average([s.accel[1] for s in flight], weights=w)))
        elif a is not None and a[1] < 0 and _is_vertical(a, shape, th):
            acc.append(float(a[1]))
        else:
            continue
        falling.append(tp)
        weights.append(sum(s.n for s in tp.fits))
    if not acc:
        return None, worst, falling
    return float(np.average(acc, weights=weights)), worst, falling


def _event_clusters(phys: Sequence[TrackPhysics], fps: float, th: Thresholds) -> list[list[tuple[float, int, int]]]:
    """Continuous segment boundaries of all tracks, as (time, track, boundary k), grouped when within 1.5 frames."""
    events = sorted((t_ev, i, k) for i, tp in enumerate(phys) for k, t_ev, gap in boundaries(tp, fps)
                    if gap <= _teleport_limit(tp, th))
    clusters: list[list[tuple[float, int, int]]] = []
    for ev in events:
        if clusters and ev[0] - clusters[-1][-1][0] < 1.5 / fps:
            clusters[-1].append(ev)
        else:
            clusters.append([ev])
    return clusters


def _collisions(phys: Sequence[TrackPhysics], fps: float, masses: Sequence[float], th: Thresholds) -> list[dict]:
    """Momentum and kinetic energy just before and after each event where two or more tracks change.

    Velocities come from the frames between this event and its neighbours (events of any track), so a
    small kink in another object's path cannot leak into the estimate.
    """
    clusters = _event_clusters(phys, fps, th)
    times = [float(np.mean([t for t, _, _ in cl])) for cl in clusters]
    out = []
    for c, cl in enumerate(clusters):
        if len({i for _, i, _ in cl}) < 2:
            continue
        t_c = times[c]
        lo = times[c - 1] if c else -np.inf
        hi = times[c + 1] if c + 1 < len(times) else np.inf
        changed = {i: k for _, i, k in cl}
        p0, p1, ke0, ke1, scale = np.zeros(2), np.zeros(2), 0.0, 0.0, 0.0
        for i, tp in enumerate(phys):
            before, after = _fits_at(tp, t_c, changed.get(i))
            v0 = None if before is None else _velocity(tp, before, t_c, (lo, t_c), th)
            v1 = None if after is None else _velocity(tp, after, t_c, (t_c, hi), th)
            if v0 is None or v1 is None:
                break  # an object not measurable on one side: no momentum balance for this event
            p0, p1 = p0 + masses[i] * v0, p1 + masses[i] * v1
            ke0, ke1 = ke0 + masses[i] * (v0 @ v0), ke1 + masses[i] * (v1 @ v1)
            scale += masses[i] * float(np.linalg.norm(v0))
        else:
            out.append({"t": t_c, "momentum_change": float(np.linalg.norm(p1 - p0) / max(scale, 1e-9)),
                        "energy_ratio": float(ke1 / max(ke0, 1e-9))})
    return out


def _velocity(tp: TrackPhysics, fit: Segment, t: float, window: tuple[float, float], th: Thresholds) -> np.ndarray | None:
    """Velocity at t from the fitted segment's frames strictly inside `window` (half a frame clear of its
    ends): a straight line, or a quadratic when the segment's curvature is above the noise."""
    idx = np.arange(fit.i0, fit.i1 + 1)
    dt = float(np.median(np.diff(tp.times))) if len(tp.times) > 1 else 1.0
    idx = idx[(tp.times[idx] > window[0] + dt / 2) & (tp.times[idx] < window[1] - dt / 2)]
    if len(idx) < 3:
        return None
    span = tp.times[fit.i1] - tp.times[fit.i0]
    deg = 2 if float(np.linalg.norm(fit.accel)) * span * span / 8 >= th.fit_tol_px / 2 and len(idx) > 3 else 1
    return np.array([np.polyval(np.polyder(np.polyfit(tp.times[idx], tp.track.pos[idx, d], deg)), t) for d in (0, 1)])


def _fits_at(tp: TrackPhysics, t: float, k: int | None) -> tuple[Any, Any]:
    if k is not None:
        return tp.fits[k], tp.fits[k + 1]
    for seg, fit in zip(tp.segments, tp.fits, strict=True):
        if tp.times[seg.i0] - 1e-9 <= t <= tp.times[seg.i1] + 1e-9:
            return fit, fit
    return None, None


def _teleport_limit(tp: TrackPhysics, th: Thresholds) -> float:
    return max(th.teleport_px, th.teleport_radius_frac * float(np.median(tp.track.radius)))


def track_metrics(
    tracks: Sequence[Track],
    fps: float,
    n_frames: int,
    shape: tuple[int, int],
    *,
    masses: Sequence[float] | None = None,
    thresholds: Thresholds | None = None,
) -> dict[str, Any]:
    """Physics measures of one clip (pixels, seconds; image y down) and the violations they show."""
    th = thresholds or Thresholds()
    phys = [analyse_track(tr, fps, th.fit_tol_px) for tr in tracks]
    out: dict[str, Any] = {"n_tracks": len(tracks)}
    accel_y, worst, falling = _gravity(phys, shape, th)
    out["accel_y_px_s2"], out["fit_residual_px"] = accel_y, worst
    bounces = [e for tp in falling for e in restitutions(tp, fps, th.min_len, _teleport_limit(tp, th))]
    out["n_bounces"] = len(bounces)
    # the bounce with the most frames on both sides is the best measured: weight by n^3 (slope precision)
    out["restitution"] = float(np.average([e for e, _ in bounces], weights=[n**3 for _, n in bounces])) if bounces else None
    m = list(masses) if masses is not None else [float(np.median(tr.radius)) ** 2 for tr in tracks]
    coll = _collisions(phys, fps, m, th) if len(tracks) >= 2 else []
    out["n_collisions"] = len(coll)
    out["momentum_change"] = max((c["momentum_change"] for c in coll), default=None)
    out["energy_ratio"] = max((c["energy_ratio"] for c in coll), default=None)
    gaps = [(gap, _teleport_limit(tp, th)) for tp in phys for _, _, gap in boundaries(tp, fps)]
    out["max_gap_px"] = max((g for g, _ in gaps), default=0.0)
    out["teleports"] = sum(g > lim for g, lim in gaps)
    out["smooth_fraction"] = min((smooth_fraction(tp, th.order_min_len) for tp in phys), default=1.0)
    out["appeared"], out["vanished"] = _existence(tracks, n_frames, shape, th)
    drifts = [_radius_drift(tr) for tr in tracks]
    out["radius_drift"] = max(drifts, key=abs, default=0.0)
    out["violations"] = _violations(out, th)
    return out


def _violations(m: dict[str, Any], th: Thresholds) -> list[str]:
    found = []
    if m["accel_y_px_s2"] is not None and m["accel_y_px_s2"] < 0:
        found.append("gravity_reversed")
    if m["smooth_fraction"] < th.min_smooth_fraction:
        found.append("temporal_order")
    if m["teleports"]:
        found.append("teleport")
    if m["vanished"]:
        found.append("vanish")
    if m["appeared"]:
        found.append("appear")
    if abs(m["radius_drift"]) > th.max_radius_drift:
        found.append("size_drift")
    if m["momentum_change"] is not None and m["momentum_change"] > th.max_momentum_change:
        found.append("momentum")
    if m["energy_ratio"] is not None and m["energy_ratio"] > th.max_energy_gain:
        found.append("energy_gain")
    if m["restitution"] is not None and m["restitution"] > th.max_energy_gain:
        found.append("restitution_above_1")
    return found


def truth_errors(tracks: Sequence[Track], truth_pos: Sequence[np.ndarray], truth_hue: Sequence[float], *,
                 fps: float, thresholds: Thresholds | None = None,
                 truth_vel: Sequence[np.ndarray] | None = None) -> dict[str, float | None]:
    """Mean centre error (px) and median velocity error (px/s) of tracks matched to true objects by hue."""
    th = thresholds or Thresholds()
    pos_err, vel_err = [], []
    for k, (pos, hue) in enumerate(zip(truth_pos, truth_hue, strict=True)):
        cands = [tr for tr in tracks if tr.hue is not None]
        if not cands:
            break
        tr = min(cands, key=lambda x: min(abs(x.hue - hue), 180 - abs(x.hue - hue)))
        pos_err.extend(np.linalg.norm(tr.pos - pos[tr.frames], axis=1))
        if truth_vel is not None:
            tp = analyse_track(tr, fps, th.fit_tol_px)
            for seg, fit in zip(tp.segments, tp.fits, strict=True):
                idx = np.arange(seg.i0, seg.i1 + 1)
                vel_err.extend(np.linalg.norm(fit.vel(tp.times[idx]) - truth_vel[k][tr.frames[idx]], axis=1))
    return {"pos_err_px": float(np.mean(pos_err)) if pos_err else None,
            "vel_err_px_s": float(np.median(vel_err)) if vel_err else None}
