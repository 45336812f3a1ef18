"""What physflow measured on one clip, and the caption composed from it (the `measured` backend).

The caption names what is in the clip (detected classes, counted by track), how the main track of each
class moves (rises and falls n times, crosses the frame, stays put, from its box centres), the camera's
motion when measured, and the clip's length: "a person and a ball; the ball rises and falls 3 times;
the person stays in place; static camera; 4.0 s".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NUMBERS = ("no", "a", "two", "three", "four", "five", "six", "seven", "eight", "nine")
RENAME = {"sports ball": "ball", "person": "person", "moving object": "moving object"}
PLURAL = {"person": "people", "mouse": "mice", "knife": "knives", "bus": "buses", "glass": "glasses"}
MIN_SWING = 0.04  # a rise-and-fall counts when the centre moves this share of the frame height
MIN_TRAVEL = 0.15  # crossing: net displacement as a share of the frame
MIN_SHARE = 0.25  # a track counts as an object of its own when seen over this share of the clip
STILL = 0.05  # a track whose centre keeps within this share of the frame stays in place (detector jitter)


@dataclass(frozen=True)
class TrackMeasure:
    """One track's box centres, as shares of the frame width and height, by frame."""

    cls: str
    track_id: int
    frames: tuple[int, ...]
    cx: tuple[float, ...]
    cy: tuple[float, ...]


@dataclass(frozen=True)
class ClipMeasures:
    clip_id: str
    video_id: str
    uri: str  # the clip file (uri_is_clip), or the video, read from start_frame to end_frame
    start_frame: int
    end_frame: int
    fps: float
    sidecar: str | None = None
    tracks: tuple[TrackMeasure, ...] = field(default_factory=tuple)
    camera: str | None = None  # static / pan / tilt / zoom / shaky, when measured
    flow_mag: float | None = None  # mean optical-flow magnitude, px per frame, when measured
    bounces: int | None = None  # from physics_metrics, when measured
    uri_is_clip: bool = False
    flow_path: str | None = None  # the clip's flow fields (.npy, pairs x H x W x 2), when computed

    @property
    def duration_s(self) -> float:
        return (self.end_frame - self.start_frame) / self.fps if self.fps else 0.0

    def facts(self) -> dict[str, object]:
        """The measures as plain JSON facts (what the openai backend is told)."""
        return {"duration_s": round(self.duration_s, 2),
                "objects": subjects(self.tracks, self.end_frame - self.start_frame) or None,
                "motion": motions(self.tracks) or None, "camera": self.camera,
                "bounces": self.bounces}


def camera_class(flow_path: str, samples: int = 12) -> str:
    """static / pan / tilt / zoom / shaky from the camera motion fitted to up to `samples` flow fields."""
    from physflow.models.camera_motion import classify, estimate

    fields = np.load(flow_path, mmap_mode="r")
    if len(fields) == 0:
        return "static"
    picks = sorted({round(i * (len(fields) - 1) / max(samples - 1, 1)) for i in range(samples)})
    motions = [estimate(np.asarray(fields[i], np.float32)) for i in picks]
    return classify(motions, (fields.shape[1], fields.shape[2]))


def _name(cls: str) -> str:
    return RENAME.get(cls, cls.replace("_", " "))


def _counted(name: str, n: int) -> str:
    plural = PLURAL.get(name, name + "s")
    return f"{NUMBERS[n] if n < len(NUMBERS) else n} {name if n == 1 else plural}"


def lasting(tracks: tuple[TrackMeasure, ...], n_frames: int) -> tuple[TrackMeasure, ...]:
    """Tracks seen over at least MIN_SHARE of the clip, and each class's longest track: a tracker's short
    fragments (an object lost and found again) are not more objects."""
    longest: dict[str, TrackMeasure] = {}
    for t in tracks:
        if _name(t.cls) not in longest or len(t.frames) > len(longest[_name(t.cls)].frames):
            longest[_name(t.cls)] = t
    keep = {id(t) for t in longest.values()}
    return tuple(t for t in tracks if id(t) in keep or len(t.frames) >= MIN_SHARE * max(n_frames, 1))


def subjects(tracks: tuple[TrackMeasure, ...], n_frames: int = 0) -> str:
    """"a person and two balls": each class counted by the most of its lasting tracks seen in one frame."""
    by_frame: dict[tuple[str, int], int] = {}
    for t in lasting(tracks, n_frames):
        for f in set(t.frames):
            by_frame[(_name(t.cls), f)] = by_frame.get((_name(t.cls), f), 0) + 1
    counts: dict[str, int] = {}
    for (name, _), n in by_frame.items():
        counts[name] = max(counts.get(name, 0), n)
    parts = [_counted(name, n) for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1] if parts else ""


def rises_and_falls(cy: np.ndarray) -> int:
    """How many times the centre rises then falls by at least MIN_SWING (image y grows downward)."""
    if len(cy) < 3:
        return 0
    smooth = np.convolve(cy, np.ones(3) / 3, mode="valid") if len(cy) >= 5 else cy
    count, low, high, rising = 0, smooth[0], smooth[0], False
    for y in smooth[1:]:
        if not rising and y < high - MIN_SWING:  # went up by a swing from the last bottom
            rising, low = True, y
        elif rising:
            low = min(low, y)
            if y > low + MIN_SWING:  # came down again from the top
                count, rising, high = count + 1, False, y
        if not rising:
            high = max(high, y)
    return count


def track_motion(t: TrackMeasure) -> str:
    """How one track moves, in words."""
    cx, cy = np.asarray(t.cx, float), np.asarray(t.cy, float)
    n = rises_and_falls(cy)
    if n:
        return "rises and falls once" if n == 1 else f"rises and falls {n} times"
    dx, dy = float(cx[-1] - cx[0]), float(cy[-1] - cy[0])
    if max(abs(dx), abs(dy)) >= MIN_TRAVEL:
        if abs(dx) >= abs(dy):
            return f"moves {'right' if dx > 0 else 'left'} across the frame"
        return "moves down" if dy > 0 else "moves up"
    return "stays in place" if max(np.ptp(cx), np.ptp(cy)) < STILL else "moves around"


def motions(tracks: tuple[TrackMeasure, ...]) -> list[str]:
    """One clause per class: its longest track's motion ("the ball rises and falls 3 times")."""
    longest: dict[str, TrackMeasure] = {}
    for t in tracks:
        name = _name(t.cls)
        if name not in longest or len(t.frames) > len(longest[name].frames):
            longest[name] = t
    return [f"the {name} {track_motion(t)}" for name, t in longest.items() if len(t.frames) >= 2]


def compose(m: ClipMeasures) -> str:
    """The measured caption of one clip."""
    parts = [subjects(m.tracks, m.end_frame - m.start_frame) or _scene(m.flow_mag)]
    parts += motions(m.tracks)
    if m.bounces:
        parts.append(f"{_counted('bounce', m.bounces)} measured")
    if m.camera:
        parts.append(f"{m.camera} camera")
    parts.append(f"{m.duration_s:.1f} s")
    return "; ".join(parts)


def _scene(flow_mag: float | None) -> str:
    if flow_mag is None:
        return "a scene"
    return "a still scene" if flow_mag < 0.3 else "a scene with some motion" if flow_mag < 2.0 else \
        "a scene with strong motion"
