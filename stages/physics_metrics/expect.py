"""Expected physics of a clip, and deviations from it reported as ratios.

An expectation comes from the call, the stage config, a synthetic clip's ground truth, or the physics context's
quantities (`Expectation.merged` takes the first given value of each field, in that order). The time base says how
many physical seconds one frame spans: a simulation rendered at "0.1 s per frame" but stored at 30 fps, or slow
motion, is measured in its own time, not the container's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Expectation:
    """What a clip should show; every field optional (None: not expected, not checked)."""

    g_m_s2: float | None = None  # gravitational acceleration, m/s^2 (needs ppm to compare with pixels)
    g_px_s2: float | None = None  # or directly in image pixels per second^2 (physical seconds)
    seconds_per_frame: float | None = None  # physical time of one frame, s
    time_scale: float | None = None  # physical seconds per second of video (2: plays at half speed)
    ppm: float | None = None  # pixels per metre
    restitution: float | None = None  # bounce speed ratio
    energy_conserved: bool | None = None  # collisions keep kinetic energy
    passive: bool | None = None  # False: the tracked things move themselves (people); no unforced-motion checks
    tolerance: float = 0.1  # relative deviation allowed before a violation

    def merged(self, *others: Expectation | None) -> Expectation:
        """This expectation with each unset field taken from the first of `others` that sets it."""
        out = self
        for other in (o for o in others if o is not None):
            out = replace(out, **{f.name: getattr(other, f.name) for f in fields(self)
                                  if f.name != "tolerance" and getattr(out, f.name) is None
                                  and getattr(other, f.name) is not None})
        return out

    def frame_seconds(self, fps: float) -> float:
        """Physical seconds per frame: the stated time base, else the time scale over the container rate."""
        if self.seconds_per_frame:
            return self.seconds_per_frame
        return (self.time_scale or 1.0) / fps

    def gravity_px(self) -> float | None:
        """Expected gravity in px/s^2, when it can be known."""
        if self.g_px_s2 is not None:
            return self.g_px_s2
        if self.g_m_s2 is not None and self.ppm:
            return self.g_m_s2 * self.ppm
        return None

    @property
    def gravity_expected(self) -> bool | None:
        """True when gravity should act, False when the scene is stated to have none, None when unknown."""
        g = self.g_px_s2 if self.g_px_s2 is not None else self.g_m_s2
        return None if g is None else g > 0


def from_truth(truth: Mapping[str, Any]) -> Expectation:
    """The expectation a synthetic clip's `synth_clips` row states (g, ppm, restitution; its own frame rate)."""
    params = json.loads(truth["params"]) if truth.get("params") else {}
    elastic = str(truth.get("scene", "")).endswith("_elastic")
    human = str(truth.get("scene", "")).startswith("human")  # colour tracks of clothes on a moving body
    return Expectation(g_m_s2=truth.get("g"), ppm=truth.get("ppm"), restitution=truth.get("restitution"),
                       seconds_per_frame=params.get("seconds_per_frame"), energy_conserved=True if elastic else None,
                       passive=False if human else None)


_CONTEXT_KEYS = {"g_m_s2": ("g_m_s2", "gravity_m_s2", "g"), "seconds_per_frame": ("seconds_per_frame",),
                 "time_scale": ("time_scale",), "ppm": ("ppm", "pixels_per_metre"), "restitution": ("restitution",),
                 "energy_conserved": ("energy_conserved",), "passive": ("passive",)}


def from_context(quantities: Mapping[str, Any] | str | None) -> Expectation:
    """The expectation in a `physics_context` row's quantities (a JSON object or its text). Recognised keys:
    g_m_s2 (or gravity_m_s2, g), seconds_per_frame, time_scale, ppm, restitution, energy_conserved; others (the
    WISA density, temperature, duration) say nothing about motion here and are ignored."""
    if quantities is None:
        return Expectation()
    q = json.loads(quantities) if isinstance(quantities, str) else dict(quantities)
    found = {}
    for name, keys in _CONTEXT_KEYS.items():
        for key in keys:
            if q.get(key) is not None:
                found[name] = q[key]
                break
    return Expectation(**found)


def deviations(m: Mapping[str, Any], exp: Expectation) -> tuple[dict[str, float | None], list[str]]:
    """Measured over expected ratios and the violations among them: a gravity ratio off by more than the
    tolerance and 3 sigma of the measurement; a restitution off by more than the tolerance (absolute when
    none is expected); energy not conserved in a collision expected to keep it."""
    out: dict[str, float | None] = {"gravity_ratio": None, "restitution_ratio": None}
    found = []
    g_exp, g = exp.gravity_px(), m.get("accel_y_px_s2")
    if g_exp and g is not None:
        ratio = g / g_exp
        out["gravity_ratio"] = ratio
        sigma = (m.get("accel_y_err_px_s2") or 0.0) / g_exp
        if abs(ratio - 1.0) > max(exp.tolerance, 3.0 * sigma):
            found.append("gravity_deviation")
    e = m.get("restitution")
    if exp.restitution and e is not None:
        out["restitution_ratio"] = e / exp.restitution
        if abs(e / exp.restitution - 1.0) > exp.tolerance:
            found.append("restitution_deviation")
    ke = m.get("energy_ratio")
    if exp.energy_conserved and ke is not None and abs(ke - 1.0) > exp.tolerance:
        found.append("energy_not_conserved")
    return out, found
