"""Deliberately broken versions of a synthetic scene, for testing that physics metrics flag each violation."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np

from physflow.stages.synth.render import render_frames
from physflow.stages.synth.scenes import Scene

VIOLATIONS: tuple[str, ...] = (
    "shuffle", "reverse_gravity", "teleport", "vanish", "size_drift", "frozen", "stopped", "stutter", "speed2x",
)
FREEZE_S = 0.5  # seconds a frozen video holds one frame


def _teleport(scene: Scene, rng: np.random.Generator) -> list[np.ndarray]:
    """From a middle frame on, the first object is drawn displaced by 3 of its radii (sideways, inside the frame)."""
    s = copy.deepcopy(scene)
    obj = s.objects[0]
    t0 = _quiet_frame(s, rng)
    shift = 3.0 * obj.radius_px
    direction = 1.0 if obj.pos[t0:, 0].max() + shift + obj.radius_px < s.width - 2 else -1.0
    obj.pos = obj.pos.copy()
    obj.pos[t0:, 0] += direction * shift
    return render_frames(s)


def _quiet_frame(scene: Scene, rng: np.random.Generator) -> int:
    """A frame in the middle half of the clip, as far as possible from any bounce or collision."""
    frames = np.arange(scene.n_frames // 4, 3 * scene.n_frames // 4)
    events = np.array(scene.events or [-1e9]) * scene.fps
    clearance = np.abs(frames[:, None] - events[None, :]).min(axis=1)
    best = frames[clearance >= clearance.max() - 1]
    return int(rng.choice(best))


def _vanish(scene: Scene, rng: np.random.Generator) -> list[np.ndarray]:
    """The first object is no longer drawn from a middle frame on."""
    s = copy.deepcopy(scene)
    visible = np.ones(s.n_frames, bool)
    visible[_quiet_frame(s, rng):] = False
    s.objects[0].visible = visible
    return render_frames(s)


def _size_drift(scene: Scene, rng: np.random.Generator) -> list[np.ndarray]:
    """The first object's radius grows linearly by 50% over the clip."""
    s = copy.deepcopy(scene)
    s.objects[0].scale = np.linspace(1.0, 1.5, s.n_frames)
    return render_frames(s)


def _shuffle(scene: Scene, rng: np.random.Generator) -> list[np.ndarray]:
    frames = render_frames(scene)
    return [frames[i] for i in rng.permutation(len(frames))]


def _reverse_gravity(scene: Scene, rng: np.random.Generator) -> list[np.ndarray]:
    """Frames flipped upside down: objects fall upwards and bounce off a ceiling."""
    return [np.ascontiguousarray(f[::-1]) for f in render_frames(scene)]


def _whole_frame(scene: Scene, rng: np.random.Generator) -> tuple[int, int]:
    """(object, frame): a frame in the middle half of the clip, clear of events, where that object (the first one
    that has such frames) is wholly in view, clear of the border by more than a tracker's margin."""
    frames = np.arange(scene.n_frames // 4, 3 * scene.n_frames // 4)
    k, ok = 0, np.ones(len(frames), bool)
    for i, obj in enumerate(scene.objects):
        r = obj.radius_px + 5
        inside = (obj.pos[frames, 0] >= r) & (obj.pos[frames, 0] <= scene.width - 1 - r) \
            & (obj.pos[frames, 1] >= r) & (obj.pos[frames, 1] <= scene.height - 1 - r)
        if inside.any():
            k, ok = i, inside
            break
    frames = frames[ok]
    events = np.array(scene.events or [-1e9]) * scene.fps
    clearance = np.abs(frames[:, None] - events[None, :]).min(axis=1)
    return k, int(rng.choice(frames[clearance >= clearance.max() - 1]))


def _frozen(scene: Scene, rng: np.random.Generator) -> list[np.ndarray]:
    """The video holds one frame for FREEZE_S seconds while things move (a hang in mid-air), then goes on."""
    frames = render_frames(scene)
    t0, hold = _whole_frame(scene, rng)[1], max(4, round(FREEZE_S * scene.fps))
    return (frames[:t0] + [frames[t0]] * hold + frames[t0:])[:len(frames)]


def _stopped(scene: Scene, rng: np.random.Generator) -> list[np.ndarray]:
    """An object stops dead inside the frame and stays there, nothing touching it."""
    s = copy.deepcopy(scene)
    k, t0 = _whole_frame(s, rng)
    obj = s.objects[k]
    obj.pos = obj.pos.copy()
    obj.pos[t0:] = obj.pos[t0]
    return render_frames(s)


def _stutter(scene: Scene, rng: np.random.Generator) -> list[np.ndarray]:
    """Every fourth frame shown twice (a stuttering player or a repeated frame in a generated video)."""
    frames = render_frames(scene)
    start = int(rng.integers(0, 4))
    out = [f for t, f in enumerate(frames) for _ in range(2 if t % 4 == start else 1)]
    return out[:len(frames)]


def _speed2x(scene: Scene, rng: np.random.Generator) -> list[np.ndarray]:
    """Every other frame (the clip plays twice as fast at the same frame rate: gravity looks 4x)."""
    return render_frames(scene)[::2]


_MAKERS: dict[str, Callable[[Scene, np.random.Generator], list[np.ndarray]]] = {
    "shuffle": _shuffle, "reverse_gravity": _reverse_gravity, "teleport": _teleport, "vanish": _vanish,
    "size_drift": _size_drift, "frozen": _frozen, "stopped": _stopped, "stutter": _stutter, "speed2x": _speed2x,
}
# the violation each broken clip should raise (speed2x: only against an expected g)
EXPECTED: dict[str, str] = {
    "shuffle": "temporal_order", "reverse_gravity": "gravity_reversed", "teleport": "teleport", "vanish": "vanish",
    "size_drift": "size_drift", "frozen": "unsupported_rest", "stopped": "unforced_velocity_change",
    "stutter": "repeated_frames", "speed2x": "gravity_deviation",
}


def broken_frames(scene: Scene, violation: str, seed: int = 0) -> list[np.ndarray]:
    """The scene's frames with one violation of physics (`VIOLATIONS`), deterministic in `seed`."""
    if violation not in _MAKERS:
        raise ValueError(f"unknown violation {violation!r}; known: {', '.join(VIOLATIONS)}")
    return _MAKERS[violation](scene, np.random.default_rng(seed))
