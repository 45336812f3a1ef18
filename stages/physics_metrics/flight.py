"""Free flight found by fit, not by magnitude: a segment is ballistic when a constant-acceleration model explains
it (small residual, enough frames) and its vertical acceleration is significant against the fit's own noise,
whatever the size of g. Gravity is the inverse-variance mean of the ballistic segments, with its uncertainty.

Units: pixels and seconds, image y down (gravity is a positive vertical acceleration).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from physflow.stages.physics_metrics.trajectory import TrackPhysics


@dataclass(frozen=True)
class Flight:
    """One ballistic segment: track index, frames [i0, i1] of the track, acceleration (px/s^2) and its 1-sigma
    error, the fit's RMS residual (px), and the significance |a_y| / sigma(a_y)."""

    track: int
    i0: int
    i1: int
    accel: np.ndarray
    accel_err: np.ndarray
    rms_px: float
    z: float

    @property
    def n(self) -> int:
        return self.i1 - self.i0 + 1


@dataclass(frozen=True)
class Gravity:
    """Vertical acceleration of free flight (px/s^2, + down), its 1-sigma uncertainty, and what it came from."""

    accel_y: float
    accel_y_err: float
    n_segments: int
    n_frames: int


def constant_acceleration_fit(t: np.ndarray, p: np.ndarray, noise_px: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Least-squares p(t) = p0 + v t + a t^2 / 2 per axis: (acceleration (2,), its 1-sigma error (2,), RMS px).

    The coefficient errors use the residual scatter, floored at `noise_px` so that a perfect render does not
    claim infinite precision."""
    tc = t - t.mean()
    design = np.stack([np.ones_like(tc), tc, 0.5 * tc * tc], axis=1)
    coef, *_ = np.linalg.lstsq(design, p, rcond=None)
    res = p - design @ coef
    dof = max(1, len(t) - 3)
    rms = float(np.sqrt((res**2).sum() / (2 * len(t))))
    scatter = np.maximum(np.sqrt((res**2).sum(axis=0) / dof), noise_px)
    inv = np.linalg.pinv(design.T @ design)
    return coef[2], scatter * float(np.sqrt(inv[2, 2])), rms


def flights(phys: Sequence[TrackPhysics], *, min_len: int, min_z: float, noise_px: float,
            max_lateral: float = 0.25) -> list[Flight]:
    """Ballistic segments of every track: at least `min_len` frames (the trimmed fits, which leave out frames next
    to an event), |a_y| at least `min_z` sigma, and horizontal acceleration small beside it (air drag is small;
    a pendulum or a braking slide accelerates sideways)."""
    out = []
    for k, tp in enumerate(phys):
        for seg in tp.fits:
            if seg.n < min_len:
                continue
            idx = slice(seg.i0, seg.i1 + 1)
            a, err, rms = constant_acceleration_fit(tp.times[idx], tp.track.pos[idx], noise_px)
            z = abs(a[1]) / max(err[1], 1e-12)
            lateral_ok = abs(a[0]) <= max(3.0 * err[0], max_lateral * abs(a[1]))
            if z >= min_z and lateral_ok:
                out.append(Flight(k, seg.i0, seg.i1, a, err, rms, float(z)))
    return out


def gravity(found: Sequence[Flight], track_frames: Sequence[int] | None = None,
            min_cover: float = 0.6) -> tuple[Gravity | None, bool]:
    """Gravity from ballistic segments, and whether it points up (an upside-down world).

    Segments falling down and segments falling up are pooled apart; the side with more statistical weight
    wins (a person pushing off the ground accelerates up briefly, a real fall dominates). An upward segment
    counts only on a track that such segments explain for `min_cover` of its frames (`track_frames`: frames per
    track): the bottom of a pendulum's swing or a body's push-off is locally a parabola opening upwards, a world
    upside down is so throughout. The uncertainty is the inverse-variance error, widened by the scatter between
    segments when they disagree more than their errors.
    """
    down = [f for f in found if f.accel[1] > 0]
    up = [f for f in found if f.accel[1] < 0]
    if track_frames is not None:
        cover = {k: sum(f.n for f in up if f.track == k) / max(1, track_frames[k]) for k in {f.track for f in up}}
        up = [f for f in up if cover[f.track] >= min_cover]
    if not down and not up:
        return None, False

    def weight(fs: list[Flight]) -> float:
        return float(sum(1.0 / f.accel_err[1] ** 2 for f in fs))

    side, reversed_ = (down, False) if weight(down) >= weight(up) else (up, True)
    a = np.array([f.accel[1] for f in side])
    w = np.array([1.0 / f.accel_err[1] ** 2 for f in side])
    mean = float((w * a).sum() / w.sum())
    err = float(1.0 / np.sqrt(w.sum()))
    if len(side) > 1:
        chi2 = float((w * (a - mean) ** 2).sum() / (len(side) - 1))
        err *= max(1.0, float(np.sqrt(chi2)))
    return Gravity(mean, err, len(side), int(sum(f.n for f in side))), reversed_
