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
from physflow.models import camera_motion
from physflow.models.camera_motion import CameraMotion
from physflow.stages.base import Stage
from physflow.stages.common.video_io import iter_frames
from physflow.stages.physics_metrics.camera import stabilise_tracks
from physflow.stages.physics_metrics.config import PhysicsMetricsConfig
from physflow.stages.physics_metrics.expect import Expectation, from_truth
from physflow.stages.physics_metrics.flowmetrics import dis_flows, flow_metrics
from physflow.stages.physics_metrics.metrics import track_metrics, truth_errors
from physflow.stages.physics_metrics.tracking import Track, color_tracks


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


def measure_tracks(
    tracks: Sequence[Track],
    fps: float,
    n_frames: int,
    shape: tuple[int, int],
    config: PhysicsMetricsConfig | None = None,
    *,
    ppm: float | None = None,
    expect: Expectation | None = None,
    motions: list[CameraMotion] | None = None,
) -> dict[str, Any]:
    """Every track-based physics measure of one clip, whatever made the tracks (colour tracks of a synthetic or
    generated video, `detections` rows of a real clip): with the camera's `motions` (frame t to t+1) the tracks
    are measured in frame 0's coordinates unless the camera is static. The expectation is `expect`, then the
    config's, then `ppm`; gravity in m/s^2 when ppm is known."""
    cfg = config or PhysicsMetricsConfig()
    exp = (expect or Expectation()).merged(cfg.expectation(), Expectation(ppm=ppm))
    camera = camera_motion.describe(motions or [], shape)
    stabilised = bool(motions) and cfg.stabilise and camera["camera_class"] != "static"
    if stabilised:
        tracks = stabilise_tracks(tracks, motions or [])
    out = track_metrics(tracks, fps, n_frames, shape, thresholds=cfg.thresholds(), expect=exp)
    out.update(camera if motions else {})
    out.update({"n_frames": n_frames, "fps": fps, "ppm": exp.ppm, "stabilised": stabilised})
    a, err = out["accel_y_px_s2"], out["accel_y_err_px_s2"]
    out["gravity_m_s2"] = a / exp.ppm if exp.ppm and a is not None else None
    out["gravity_err_m_s2"] = err / exp.ppm if exp.ppm and err is not None else None
    return out


def measure_frames(
    frames: Sequence[np.ndarray] | np.ndarray,
    fps: float,
    config: PhysicsMetricsConfig | None = None,
    *,
    ppm: float | None = None,
    truth: dict[str, Any] | None = None,
    expect: Expectation | None = None,
) -> dict[str, Any]:
    """Every physics measure of RGB frames (T x H x W x 3 uint8) at `fps` (the container's rate), from colour
    tracks; gravity in m/s^2 when `ppm` is given; errors against ground truth and its expected values when
    `truth` (a `synth_clips` row) is given. `expect` states expected physics (see `Expectation`)."""
    cfg = config or PhysicsMetricsConfig()
    frames = np.asarray(frames)
    tracks = color_tracks(frames, min_saturation=cfg.min_saturation, min_area=cfg.min_area)
    flows = dis_flows(list(frames)) if (cfg.stabilise or cfg.flow_metrics) and len(frames) >= 2 else None
    found = None
    if flows is not None and cfg.stabilise:
        found = camera_motion.motions(flows, model=cfg.camera_model, step=cfg.camera_step,
                                      threshold=cfg.camera_threshold_px)
    exp = (expect or Expectation()).merged(from_truth(truth) if truth is not None else None)
    out = measure_tracks(tracks, fps, len(frames), frames.shape[1:3], cfg, ppm=ppm, expect=exp, motions=found)
    if cfg.flow_metrics:
        out.update(flow_metrics(list(frames), flows))
    if truth is not None:
        out.update(_against_truth(out, tracks, truth, cfg))
    return out


def _against_truth(m: dict[str, Any], tracks: list, truth: dict[str, Any], cfg: PhysicsMetricsConfig) -> dict:
    from physflow.stages.synth.stage import scene_of  # ground truth exists only for synthetic clips

    scene = scene_of(truth)
    rigid = [o for o in scene.objects if o.kind != "human"]  # a person's colour tracks are clothes, not the pelvis
    res: dict[str, Any] = truth_errors(
        [tr.whole() for tr in tracks], [o.pos for o in rigid], [o.hue for o in rigid], fps=scene.fps,
        thresholds=cfg.thresholds(), truth_vel=[o.vel for o in rigid],
    )
    g, e = truth.get("g"), truth.get("restitution")
    res["gravity_rel_err"] = abs(m["gravity_m_s2"] - g) / g if g and m.get("gravity_m_s2") is not None else None
    res["restitution_rel_err"] = abs(m["restitution"] - e) / e if e and m.get("restitution") is not None else None
    return res


def measure_video(path: str, config: PhysicsMetricsConfig | None = None, *, fps: float | None = None,
                  start: int = 0, end: int | None = None, ppm: float | None = None,
                  truth: dict[str, Any] | None = None, expect: Expectation | None = None) -> dict[str, Any]:
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
    return measure_frames(frames, fps, cfg, ppm=ppm, truth=truth, expect=expect)


class PhysicsMetricsStage(Stage[PhysicsMetricsConfig, MetricsItem]):
    name = "physics_metrics"
    VERSION = 2  # 2: border-aware, free flight by fit, new violations, expectations, stabilised tracks
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
