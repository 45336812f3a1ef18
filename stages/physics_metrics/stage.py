"""Physics-metrics stage: one `physics_metrics` row per clip, from colour tracks of its decoded frames.

`measure_frames` and `measure_video` are the plain functions other code calls (training, generation):
they take frames or a video file and return the same measures as a dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from physflow.data_catalog.schemas import PHYSICS_METRICS
from physflow.stages.base import Stage
from physflow.stages.common.video_io import iter_frames
from physflow.stages.physics_metrics.config import PhysicsMetricsConfig
from physflow.stages.physics_metrics.flowmetrics import flow_metrics
from physflow.stages.physics_metrics.metrics import track_metrics, truth_errors
from physflow.stages.physics_metrics.tracking import color_tracks


@dataclass(frozen=True)
class MetricsItem:
    """One clip to measure: its video and frame range; `ppm` (px per metre) and `truth` (a `synth_clips`
    row) when known."""

    clip_id: str
    uri: str
    start_frame: int = 0
    end_frame: int | None = None
    fps: float | None = None
    ppm: float | None = None
    truth: dict[str, Any] | None = None


def measure_frames(
    frames: Sequence[np.ndarray] | np.ndarray,
    fps: float,
    config: PhysicsMetricsConfig | None = None,
    *,
    ppm: float | None = None,
    truth: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every physics measure of RGB frames (T x H x W x 3 uint8) at `fps`; gravity in m/s^2 when `ppm` is
    given; errors against ground truth when `truth` (a `synth_clips` row) is given."""
    cfg = config or PhysicsMetricsConfig()
    frames = np.asarray(frames)
    tracks = color_tracks(frames, min_saturation=cfg.min_saturation, min_area=cfg.min_area)
    out = track_metrics(tracks, fps, len(frames), frames.shape[1:3], thresholds=cfg.thresholds())
    out.update({"n_frames": len(frames), "fps": fps, "ppm": ppm})
    out["gravity_m_s2"] = out["accel_y_px_s2"] / ppm if ppm and out["accel_y_px_s2"] is not None else None
    if cfg.flow_metrics:
        out.update(flow_metrics(list(frames)))
    if truth is not None:
        out.update(_against_truth(out, tracks, truth, cfg))
    return out


def _against_truth(m: dict[str, Any], tracks: list, truth: dict[str, Any], cfg: PhysicsMetricsConfig) -> dict:
    from physflow.stages.synth.stage import scene_of  # ground truth exists only for synthetic clips

    scene = scene_of(truth)
    rigid = [o for o in scene.objects if o.kind != "human"]  # a person's colour tracks are clothes, not the pelvis
    res: dict[str, Any] = truth_errors(
        tracks, [o.pos for o in rigid], [o.hue for o in rigid], fps=scene.fps, thresholds=cfg.thresholds(),
        truth_vel=[o.vel for o in rigid],
    )
    g, e = truth.get("g"), truth.get("restitution")
    res["gravity_rel_err"] = abs(m["gravity_m_s2"] - g) / g if g and m.get("gravity_m_s2") is not None else None
    res["restitution_rel_err"] = abs(m["restitution"] - e) / e if e and m.get("restitution") is not None else None
    return res


def measure_video(path: str, config: PhysicsMetricsConfig | None = None, *, fps: float | None = None,
                  start: int = 0, end: int | None = None, ppm: float | None = None,
                  truth: dict[str, Any] | None = None) -> dict[str, Any]:
    """`measure_frames` on frames [start, end) of a video file (fps from the file unless given)."""
    from physflow.stages.common.video_io import probe

    cfg = config or PhysicsMetricsConfig()
    if fps is None:
        fps = probe(path, decode="none").fps or 0.0
        if not fps:
            raise ValueError(f"no frame rate known for {path}")
    stop = start + cfg.max_frames if end is None else min(end, start + cfg.max_frames)
    frames = [f for _, f in iter_frames(path, start=start, end=stop, width=cfg.width)]
    if len(frames) < 3:
        raise ValueError(f"only {len(frames)} frames decoded from {path}")
    native = probe(path, decode="none").width or frames[0].shape[1]
    if ppm and native != frames[0].shape[1]:
        ppm *= frames[0].shape[1] / native
    if truth is not None and truth.get("width") != frames[0].shape[1]:
        truth = None  # ground truth is in the clip's native pixels
    return measure_frames(frames, fps, cfg, ppm=ppm, truth=truth)


class PhysicsMetricsStage(Stage[PhysicsMetricsConfig, MetricsItem]):
    name = "physics_metrics"
    VERSION = 1
    Config = PhysicsMetricsConfig
    table = PHYSICS_METRICS
    input_columns = ("clip_id", "uri", "start_frame", "end_frame", "fps", "ppm")

    def items(self, inputs: Sequence[MetricsItem]) -> Sequence[MetricsItem]:
        return list(inputs)

    def process(self, item: MetricsItem) -> Iterable[dict[str, Any]]:
        m = measure_video(item.uri, self.config, fps=item.fps, start=item.start_frame, end=item.end_frame,
                          ppm=item.ppm, truth=item.truth)
        row = {k: v for k, v in m.items() if k in self.schema.names}
        yield {**row, "clip_id": item.clip_id, "uri": item.uri, "tracker": "colour"}

    def error_rows(self, item: MetricsItem, reason: str) -> list[dict[str, Any]]:
        return [{"clip_id": item.clip_id, "uri": item.uri, "tracker": "colour", "error": reason}]


def run(inputs: Sequence[MetricsItem], config: PhysicsMetricsConfig) -> pa.Table:
    return PhysicsMetricsStage(config).run(inputs)
