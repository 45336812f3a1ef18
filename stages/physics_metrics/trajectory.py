"""Physics read from tracks: piecewise-quadratic segments, accelerations, bounces, collisions, continuity.

A track is cut greedily into segments that a quadratic in time fits within a tolerance (free flight,
uniform motion and constant deceleration are all quadratic); segment ends are events (bounces,
collisions, stops) or violations (teleports, shuffled frames). Units: pixels and seconds; image y
points down, so gravity is a positive vertical acceleration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physflow.stages.physics_metrics.tracking import Track


@dataclass
class Segment:
    """Frames [i0, i1] (indices into a track) fitted by quadratics x(t), y(t) (coefficients highest first)."""

    i0: int
    i1: int
    cx: np.ndarray
    cy: np.ndarray
    residual: float  # max distance from the fit, px

    @property
    def n(self) -> int:
        return self.i1 - self.i0 + 1

    def pos(self, t: float | np.ndarray) -> np.ndarray:
        return np.stack([np.polyval(self.cx, t), np.polyval(self.cy, t)], axis=-1)

    def vel(self, t: float | np.ndarray) -> np.ndarray:
        return np.stack([np.polyval(np.polyder(self.cx), t), np.polyval(np.polyder(self.cy), t)], axis=-1)

    @property
    def accel(self) -> np.ndarray:
        return np.array([2 * self.cx[0], 2 * self.cy[0]])


def _fit(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    deg = min(2, len(t) - 1)
    cx = np.polyfit(t, p[:, 0], deg)
    cy = np.polyfit(t, p[:, 1], deg)
    cx, cy = np.pad(cx, (2 - deg, 0)), np.pad(cy, (2 - deg, 0))
    res = np.hypot(np.polyval(cx, t) - p[:, 0], np.polyval(cy, t) - p[:, 1])
    return cx, cy, float(res.max())


def segment_track(times: np.ndarray, pos: np.ndarray, tol: float) -> list[Segment]:
    """Greedy piecewise-quadratic cut of a trajectory: each segment fits within `tol` px.

    Consecutive time indices only: a missing frame (object not seen) also ends a segment.
    """
    segs: list[Segment] = []
    i0, n = 0, len(times)
    dt = np.median(np.diff(times)) if n > 1 else 1.0
    while i0 < n:
        i1 = i0
        while i1 + 1 < n and times[i1 + 1] - times[i1] < 1.5 * dt:
            _, _, res = _fit(times[i0:i1 + 2], pos[i0:i1 + 2])
            if res > tol:
                break
            i1 += 1
        cx, cy, res = _fit(times[i0:i1 + 1], pos[i0:i1 + 1])
        segs.append(Segment(i0, i1, cx, cy, res))
        i0 = i1 + 1
    return segs


def refit_trimmed(times: np.ndarray, pos: np.ndarray, seg: Segment, first: bool, last: bool) -> Segment:
    """The segment refitted without its boundary frames next to an event (a frame there may straddle it)."""
    i0 = seg.i0 + (0 if first else 1)
    i1 = seg.i1 - (0 if last else 1)
    if i1 - i0 < 2:
        return seg
    cx, cy, res = _fit(times[i0:i1 + 1], pos[i0:i1 + 1])
    return Segment(i0, i1, cx, cy, res)


@dataclass
class TrackPhysics:
    track: Track
    times: np.ndarray
    segments: list[Segment]  # as cut
    fits: list[Segment]  # trimmed, for estimates


def analyse_track(track: Track, fps: float, tol: float) -> TrackPhysics:
    times = track.frames / fps
    segs = segment_track(times, track.pos, tol)
    fits = [refit_trimmed(times, track.pos, s, k == 0, k == len(segs) - 1) for k, s in enumerate(segs)]
    return TrackPhysics(track, times, segs, fits)


def acceleration(tp: TrackPhysics, min_len: int) -> tuple[np.ndarray | None, float]:
    """Acceleration (px/s^2) averaged over the track's long segments, weighted by n * duration^4
    (the inverse variance of a fitted quadratic coefficient); and the worst fit residual among them."""
    acc, weights, worst = [], [], 0.0
    for seg in tp.fits:
        if seg.n >= min_len:
            duration = tp.times[seg.i1] - tp.times[seg.i0]
            acc.append(seg.accel)
            weights.append(seg.n * duration**4)
            worst = max(worst, seg.residual)
    if not acc:
        return None, worst
    return np.average(np.array(acc), axis=0, weights=np.array(weights)), worst


def _meeting_time(a: Segment, b: Segment, lo: float, hi: float, axis: int) -> float:
    """Time in [lo, hi] where the two fits are closest along `axis` (a bounce: where they cross)."""
    ts = np.linspace(lo, hi, 201)
    gap = np.abs(a.pos(ts)[:, axis] - b.pos(ts)[:, axis]) if axis >= 0 else np.linalg.norm(a.pos(ts) - b.pos(ts), axis=1)
    return float(ts[int(np.argmin(gap))])


def boundaries(tp: TrackPhysics, fps: float) -> list[tuple[int, float, float]]:
    """For each pair of consecutive segments k, k+1: (k, event time, continuity gap in px).

    The event time is where the two fits come closest between the last frame before and the first frame
    after (widened by a frame each way); the gap is their distance there: about 0 for a bounce or a
    collision, the jump for a teleport.
    """
    out = []
    for k in range(len(tp.segments) - 1):
        a, b = tp.segments[k], tp.segments[k + 1]  # as cut: their boundary frames pin the fits there
        lo = tp.times[a.i1] - 1.0 / fps
        hi = tp.times[b.i0] + 1.0 / fps
        t_ev = _meeting_time(a, b, lo, hi, -1)
        out.append((k, t_ev, float(np.linalg.norm(a.pos(t_ev) - b.pos(t_ev)))))
    return out


def restitutions(tp: TrackPhysics, fps: float, min_len: int, max_gap: float) -> list[tuple[float, int]]:
    """Speed ratio (after / before) of the vertical velocity at each floor bounce (a downward segment
    followed by an upward one, meeting continuously, each long enough to fit), with the frames of the
    shorter side (its reliability)."""
    out = []
    for k, _, gap in boundaries(tp, fps):
        a, b = tp.fits[k], tp.fits[k + 1]
        if a.n < min_len - 1 or b.n < min_len - 1 or gap > max_gap:
            continue
        lo = tp.times[tp.segments[k].i1] - 1.0 / fps
        hi = tp.times[tp.segments[k + 1].i0] + 1.0 / fps
        t_c = _meeting_time(a, b, lo, hi, 1)
        v_in, v_out = a.vel(t_c)[1], b.vel(t_c)[1]
        if v_in > 0 > v_out:
            out.append((float(-v_out / v_in), min(a.n, b.n)))
    return out


def smooth_fraction(tp: TrackPhysics, min_len: int) -> float:
    """Fraction of the track's frames inside segments of at least `min_len` frames (shuffled frames: ~0)."""
    n = sum(s.n for s in tp.segments)
    return sum(s.n for s in tp.segments if s.n >= min_len) / n if n else 1.0
