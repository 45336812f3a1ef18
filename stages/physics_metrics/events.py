"""Violations read from when and how tracks change: an object at rest in mid-air, an unforced change of velocity,
and frames repeated or dropped (the clip's time base broken).

Every function takes whole observations (`TrackPhysics` of `Track.whole()`), pixels and seconds, image y down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from physflow.stages.physics_metrics.flight import Flight
from physflow.stages.physics_metrics.tracking import Track
from physflow.stages.physics_metrics.trajectory import TrackPhysics, boundaries


@dataclass(frozen=True)
class Rest:
    """Frames [i0, i1] (track indices) where track `track` stays within `rest_px` of one point."""

    track: int
    i0: int
    i1: int


def rests(phys: Sequence[TrackPhysics], *, min_frames: int, rest_px: float) -> list[Rest]:
    """Maximal runs of consecutive frames where a track moves less than `rest_px` (or 5% of its radius) from the
    run's first position."""
    out = []
    for k, tp in enumerate(phys):
        pos, frames = tp.track.pos, tp.track.frames
        tol = max(rest_px, 0.05 * float(np.median(tp.track.radius))) if len(pos) else rest_px
        i = 0
        while i < len(pos):
            j = i
            while j + 1 < len(pos) and frames[j + 1] == frames[j] + 1 and np.linalg.norm(pos[j + 1] - pos[i]) <= tol:
                j += 1
            if j - i + 1 >= min_frames:
                out.append(Rest(k, i, j))
            i = j + 1
    return out


def support_level(tracks: Sequence[Track], height: int, border_px: float = 3.0) -> float:
    """The lowest point (largest image y) any object reached: the floor, when there is one in view. An object cut
    by the bottom border went through where a floor would be: then nothing in view can stand on one."""
    level = -np.inf
    for tr in tracks:
        if len(tr.frames):
            level = max(level, float(tr.bottom.max()))
            if (tr.is_cut & (tr.bottom >= height - 1 - border_px)).any():
                level = max(level, float(height))
    return level


def hovering(phys: Sequence[TrackPhysics], rest_runs: Sequence[Rest], found: Sequence[Flight], *,
             gravity_present: bool, floor: float, margin_px: float) -> list[Rest]:
    """Rests in mid-air: an object that was (or becomes) in free flight right next to the rest, stays still with
    its bottom above the lowest point reached in the clip (nothing there to stand on), while gravity acts."""
    if not gravity_present:
        return []
    out = []
    for r in rest_runs:
        tp = phys[r.track]
        near_flight = any(f.track == r.track and (abs(f.i1 - r.i0) <= 2 or abs(f.i0 - r.i1) <= 2) for f in found)
        bottom = float(np.median(tp.track.bottom[r.i0:r.i1 + 1]))
        if near_flight and bottom < floor - margin_px:
            out.append(r)
    return out


def _touching(phys: Sequence[TrackPhysics], k: int, t: float, fps: float, gap_px: float) -> bool:
    """Whether another track is within contact distance of track k at time t (its nearest frame)."""
    tp = phys[k]
    i = int(np.argmin(np.abs(tp.times - t)))
    p, r = tp.track.pos[i], float(tp.track.radius[i])
    for j, other in enumerate(phys):
        if j == k or not len(other.times):
            continue
        near = np.abs(other.times - t) <= 1.5 / fps
        if near.any():
            d = np.linalg.norm(other.track.pos[near] - p, axis=1) - other.track.radius[near] - r
            if float(d.min()) <= gap_px:
                return True
    return False


def unforced_changes(phys: Sequence[TrackPhysics], fps: float, *, teleport_limit: Sequence[float], only: Sequence[int],
                     min_change: float, min_speed_px: float, gravity_present: bool, floor: float, margin_px: float,
                     contact_px: float) -> list[tuple[int, float, float]]:
    """Velocity changes at segment boundaries of isolated objects (tracks `only`): (track, time s, |dv| / speed).

    A change is forced (left out) when another object touches this one then, or, with gravity, when the object
    moves down onto the clip's lowest level `floor` (a floor bounce or landing) keeping most of its sideways speed. A change counts when |dv| exceeds
    `min_change` of the fastest speed on either side and `min_speed_px` px per frame, and both sides span 3 frames or more.
    """
    out = []
    for k in only:
        tp = phys[k]
        for b, t_ev, gap in boundaries(tp, fps):
            a, c = tp.segments[b], tp.segments[b + 1]
            if gap > teleport_limit[k] or a.n < 3 or c.n < 3:
                continue
            v_in, v_out = tp.fits[b].vel(t_ev), tp.fits[b + 1].vel(t_ev)
            dv = float(np.linalg.norm(v_out - v_in))
            # against the fastest the object went on either side: braking to a halt (friction) ends slowly
            speed = max(_peak_speed(tp, b), _peak_speed(tp, b + 1))
            if dv < min_change * speed or dv < min_speed_px * fps:
                continue
            # where the fit before the event puts the object then: a bounce's contact point, not the last frame
            half = float(tp.track.bottom[a.i1] - tp.track.pos[a.i1, 1])
            bottom = float(tp.fits[b].pos(t_ev)[1]) + half
            # a floor stops or turns the fall; it does not take a fast sideways motion away with it
            sideways = abs(float(v_out[0] - v_in[0]))
            if gravity_present and v_in[1] > 0 and bottom >= floor - margin_px \
                    and (sideways < 0.5 * abs(float(v_in[0])) or sideways < min_speed_px * fps):
                continue
            if _touching(phys, k, t_ev, fps, contact_px):
                continue
            out.append((k, float(t_ev), dv / max(speed, 1e-9)))
    return out


def _peak_speed(tp: TrackPhysics, k: int) -> float:
    fit = tp.fits[k]
    return float(np.linalg.norm(fit.vel(tp.times[fit.i0:fit.i1 + 1]), axis=-1).max())


def frame_timing(phys: Sequence[TrackPhysics], n_frames: int, *, moving_px: float, still_px: float,
                 drop_ratio: float) -> tuple[list[int], list[int]]:
    """Frame steps t (frame t to t+1) where every moving object stood still (a repeated frame) or moved about twice
    as far as on both neighbouring steps (a dropped frame). A step is judged on objects that move by at least
    `moving_px` in the same direction on both neighbouring steps (an apex or a bounce turns, a stutter does not)."""
    steps = np.full((len(phys), max(0, n_frames - 1), 2), np.nan)
    for k, tp in enumerate(phys):
        f = tp.track.frames
        consecutive = np.flatnonzero(np.diff(f) == 1)
        steps[k, f[consecutive]] = np.diff(tp.track.pos, axis=0)[consecutive]
    size = np.linalg.norm(steps, axis=2)
    repeated, dropped = [], []
    for t in range(1, steps.shape[1] - 1):
        before, after = steps[:, t - 1], steps[:, t + 1]
        cos = (before * after).sum(axis=1) / np.maximum(size[:, t - 1] * size[:, t + 1], 1e-9)
        ok = np.isfinite(size[:, t]) & np.isfinite(cos) & (size[:, t - 1] >= moving_px) \
            & (size[:, t + 1] >= moving_px) & (cos > 0.5)
        if not ok.any():
            continue
        now = size[ok, t]
        if (now <= still_px).all():
            repeated.append(t)
        elif (now >= drop_ratio * np.maximum(size[ok, t - 1], size[ok, t + 1])).all():
            dropped.append(t)
    return repeated, dropped
