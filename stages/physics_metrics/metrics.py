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

from physflow.stages.physics_metrics.events import frame_timing, hovering, rests, support_level, unforced_changes
from physflow.stages.physics_metrics.expect import Expectation, deviations
from physflow.stages.physics_metrics.flight import Flight, flights, gravity
from physflow.stages.physics_metrics.tracking import Track
from physflow.stages.physics_metrics.trajectory import (
    Segment,
    TrackPhysics,
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
    min_flight_z: float = 8.0  # |a_y| / sigma(a_y) of a constant-acceleration fit that marks free flight
    noise_px: float = 0.05  # floor of the position noise assumed in fit uncertainties, px
    border_px: float = 3.0  # an object within this of the frame edge may leave or enter legitimately
    rest_frames: int = 6  # frames an object must stay still to be at rest
    rest_px: float = 0.5  # motion within a rest, px (or 5% of the radius)
    support_margin_px: float = 3.0  # a rest this far above the lowest level reached is in mid-air
    min_velocity_change: float = 0.5  # |dv| / speed of an unforced velocity change
    min_change_px: float = 0.3  # and |dv| at least this many px per frame
    contact_px: float = 3.0  # surfaces this close count as touching
    moving_px: float = 1.0  # a step of at least this, px per frame, is motion (frame-timing checks)
    still_px: float = 0.25  # a step of at most this between moving steps: a repeated frame
    drop_ratio: float = 1.6  # a step this many times both neighbours: a dropped frame
    max_radius_drift: float = 0.1  # relative change of radius over the clip
    max_momentum_change: float = 0.1  # |dP| / sum m|v| across a collision
    max_energy_gain: float = 1.1  # kinetic energy after / before above this: energy from nowhere


def _edge_distance(p: np.ndarray, r: float, shape: tuple[int, int]) -> float:
    h, w = shape
    return float(min(p[0] - r, w - 1 - p[0] - r, p[1] - r, h - 1 - p[1] - r))


def _existence(tracks: Sequence[Track], n_frames: int, shape: tuple[int, int], th: Thresholds) -> tuple[int, int]:
    """Objects that appear (after the first frame) or vanish (before the last, or in a gap) away from the edge:
    an observation cut by the border, or within `border_px` of it, is an object entering or leaving."""
    appeared = vanished = 0
    for tr in tracks:
        whole = ~tr.is_cut
        r = float(np.median(tr.radius[whole] if whole.any() else tr.radius))
        starts = [0, *list(np.flatnonzero(np.diff(tr.frames) > 1) + 1)]
        ends = [*list(np.flatnonzero(np.diff(tr.frames) > 1)), len(tr.frames) - 1]
        for s in starts:
            if tr.frames[s] > 0 and not tr.is_cut[s] and _edge_distance(tr.pos[s], r, shape) > th.border_px:
                appeared += 1
        for e in ends:
            if tr.frames[e] < n_frames - 1 and not tr.is_cut[e] and _edge_distance(tr.pos[e], r, shape) > th.border_px:
                vanished += 1
    return appeared, vanished


def _radius_drift(tr: Track) -> float:
    if len(tr.frames) < 3:
        return 0.0
    slope = np.polyfit(tr.frames.astype(float), tr.radius, 1)[0]
    return float(slope * (tr.frames[-1] - tr.frames[0]) / np.median(tr.radius))


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
    expect: Expectation | None = None,
) -> dict[str, Any]:
    """Physics measures of one clip (pixels, seconds; image y down) and the violations they show.

    `fps` is the container's frame rate; `expect` may give another time base (physical seconds per frame) and
    the expected values to compare with. Positions, sizes and velocities use whole observations only (an object
    cut by the frame border is left out there)."""
    th = thresholds or Thresholds()
    exp = expect or Expectation()
    rate = 1.0 / exp.frame_seconds(fps)  # physical frames per second
    whole = [tr.whole() for tr in tracks]
    kept = [k for k, tr in enumerate(whole) if len(tr.frames) >= 2]
    phys = [analyse_track(whole[k], rate, th.fit_tol_px) for k in kept]
    out: dict[str, Any] = {"n_tracks": len(tracks), "seconds_per_frame": 1.0 / rate}
    found = flights(phys, min_len=th.min_len, min_z=th.min_flight_z, noise_px=th.noise_px)
    out.update(_free_flight(phys, found, th, shape))
    falling = sorted({f.track for f in out.pop("_flights")})
    bounces = [e for i in falling for e in restitutions(phys[i], rate, th.min_len, _teleport_limit(phys[i], th))]
    out["n_bounces"] = len(bounces)
    # the bounce with the most frames on both sides is the best measured: weight by n^3 (slope precision)
    out["restitution"] = float(np.average([e for e, _ in bounces], weights=[n**3 for _, n in bounces])) if bounces else None
    m = [masses[k] for k in kept] if masses is not None else [float(np.median(tp.track.radius)) ** 2 for tp in phys]
    coll = _collisions(phys, rate, m, th) if len(phys) >= 2 else []
    out["n_collisions"] = len(coll)
    out["momentum_change"] = max((c["momentum_change"] for c in coll), default=None)
    out["energy_ratio"] = max((c["energy_ratio"] for c in coll), key=lambda x: abs(x - 1.0), default=None)
    gaps = [(gap, _teleport_limit(tp, th)) for tp in phys for _, _, gap in boundaries(tp, rate)]
    out["max_gap_px"] = max((g for g, _ in gaps), default=0.0)
    out["teleports"] = sum(g > lim for g, lim in gaps)
    out["smooth_fraction"] = min((smooth_fraction(tp, th.order_min_len) for tp in phys), default=1.0)
    out["appeared"], out["vanished"] = _existence(tracks, n_frames, shape, th)
    out["cut_observations"] = int(sum(tr.is_cut.sum() for tr in tracks))
    drifts = [_radius_drift(tr) for tr in whole]
    out["radius_drift"] = max(drifts, key=abs, default=0.0)
    gravity_present = exp.gravity_expected
    if gravity_present is None:
        gravity_present = out["accel_y_px_s2"] is not None and out["accel_y_px_s2"] > 0
    floor = support_level(tracks, shape[0], th.border_px)
    # people and animals move themselves: their rests and velocity changes need no outside cause
    passive = [] if exp.passive is False else [i for i, k in enumerate(kept) if not tracks[k].animate]
    out.update(_motion_events(phys, found, rate, n_frames, th=th, gravity_present=gravity_present, floor=floor,
                              passive=passive))
    ratios, deviation = deviations(out, exp)
    out.update(ratios)
    out["violations"] = _violations(out, th) + deviation
    return out


def _free_flight(phys: Sequence[TrackPhysics], found: Sequence[Flight], th: Thresholds,
                 shape: tuple[int, int]) -> dict[str, Any]:
    """Gravity from the ballistic segments (px/s^2, + down) with its 1-sigma error, also in frame heights."""
    g, reversed_ = gravity(found, [len(tp.times) for tp in phys])
    worst = max((seg.residual for tp in phys for seg in tp.fits if seg.n >= th.min_len), default=0.0)
    side = [f for f in found if (f.accel[1] < 0) == reversed_]
    return {
        "_flights": side, "accel_y_px_s2": None if g is None else g.accel_y,
        "accel_y_err_px_s2": None if g is None else g.accel_y_err,
        "gravity_frame_heights_s2": None if g is None else g.accel_y / shape[0],
        "flight_segments": 0 if g is None else g.n_segments, "flight_frames": 0 if g is None else g.n_frames,
        "fit_residual_px": worst,
    }


def _motion_events(phys: Sequence[TrackPhysics], found: Sequence[Flight], rate: float, n_frames: int, *,
                   th: Thresholds, gravity_present: bool, floor: float, passive: Sequence[int]) -> dict[str, Any]:
    """Rests in mid-air and unforced velocity changes of passive tracks (indices into `phys`), and frame-timing
    breaks (repeated or dropped frames) of all."""
    runs = [r for r in rests(phys, min_frames=th.rest_frames, rest_px=th.rest_px) if r.track in passive]
    hover = hovering(phys, runs, found, gravity_present=gravity_present, floor=floor, margin_px=th.support_margin_px)
    changes = unforced_changes(phys, rate, teleport_limit=[_teleport_limit(tp, th) for tp in phys], only=passive,
                               min_change=th.min_velocity_change, min_speed_px=th.min_change_px,
                               gravity_present=gravity_present, floor=floor, margin_px=th.support_margin_px,
                               contact_px=th.contact_px)
    repeated, dropped = frame_timing(phys, n_frames, moving_px=th.moving_px, still_px=th.still_px,
                                     drop_ratio=th.drop_ratio)
    return {"rest_frames_midair": int(sum(r.i1 - r.i0 + 1 for r in hover)), "unforced_changes": len(changes),
            "max_unforced_change": max((c for _, _, c in changes), default=None),
            "repeated_frames": len(repeated), "dropped_frames": len(dropped)}


# a measure counting events, and the violation any such event is
_COUNTED = (("teleports", "teleport"), ("vanished", "vanish"), ("appeared", "appear"),
            ("rest_frames_midair", "unsupported_rest"), ("unforced_changes", "unforced_velocity_change"),
            ("repeated_frames", "repeated_frames"), ("dropped_frames", "dropped_frames"))


def _violations(m: dict[str, Any], th: Thresholds) -> list[str]:
    found = []
    if m["accel_y_px_s2"] is not None and m["accel_y_px_s2"] < 0:
        found.append("gravity_reversed")
    if m["smooth_fraction"] < th.min_smooth_fraction:
        found.append("temporal_order")
    found += [name for key, name in _COUNTED[:3] if m[key]]
    if abs(m["radius_drift"]) > th.max_radius_drift:
        found.append("size_drift")
    if m["momentum_change"] is not None and m["momentum_change"] > th.max_momentum_change:
        found.append("momentum")
    if m["energy_ratio"] is not None and m["energy_ratio"] > th.max_energy_gain:
        found.append("energy_gain")
    if m["restitution"] is not None and m["restitution"] > th.max_energy_gain:
        found.append("restitution_above_1")
    return found + [name for key, name in _COUNTED[3:] if m[key]]


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
