"""Phase 2 of generation on one coarse video: read it, optimise its motion, project to part masks.

Objects come from the detect stage's non-person tracks when the annotation stages ran and found any, else
from moving blobs (difference to the median frame); they are lifted to metres by an orthographic side view.
People come from the body_fit stage's SMPL fits (bodies.py) and go back to pixels through the fit's own
camera. Bodies are drawn over objects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from physflow.models.physics_prior import TemporalPrior
from physflow.stages.common.prior import metrics
from physflow.stages.common.prior.bodies import BodyResult, body_tracks, optimise_track, world_to_pixels
from physflow.stages.common.prior.optimise import PriorResult, optimise_objects
from physflow.stages.common.prior.scene import OBJECT_BASE, Camera, Tracks, draw_body, object_masks, object_tracks
from physflow.stages.common.prior.terms import intensity_from_text
from physflow.stages.common.prior.tracks import detection_tracks
from physflow.stages.generate.prior.coarse import CoarseAnnotations
from physflow.stages.generate.prior.config import CoarseAnnotationConfig, ExtractConfig, PriorConfig


@dataclass
class PhaseTwo:
    """Part masks for the refine phase and what phase 2 measured on the way."""

    labels: np.ndarray  # [F, H, W] uint8 part label maps (0 = none)
    confidence: float  # 1.0: exact masks of the optimised motion; 0.0: nothing found, an empty condition
    n_parts: int  # the largest label in use
    result: PriorResult | None  # the objects' optimisation
    measures: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    bodies: list[BodyResult] = field(default_factory=list)


@dataclass(frozen=True)
class Priors:
    """The learned temporal priors phase 2 adds to its explicit terms (None: explicit terms only)."""

    objects: TemporalPrior | None = None
    bodies: TemporalPrior | None = None


def motion_measures(x: np.ndarray, radius: np.ndarray, fps: float, free: np.ndarray, prefix: str) -> dict[str, float]:
    """Gravity residual, penetration and jitter of object centres [F, N, 3] (m), keys prefixed."""
    heights = x[..., 1] - radius
    out = {
        "gravity_residual_m_s2": metrics.gravity_residual(x, fps, free, heights),
        "penetration_m": metrics.penetration_depth(heights),
        "jitter_m_s3": metrics.jitter(x, fps),
    }
    return {f"{prefix}{k}": round(v, 6) for k, v in out.items() if np.isfinite(v)}


def _objects(frames: np.ndarray, extract: ExtractConfig, annotations: CoarseAnnotations | None,
             min_frames: int) -> tuple[Tracks, str]:
    """Object tracks of the coarse video and where they came from (detect, motion)."""
    if annotations is not None:
        tracks = detection_tracks(annotations.detections, frames.shape[0], frames.shape[2], max_objects=extract.max_objects,
                                  min_frames=min_frames)
        if tracks.centres.shape[1]:
            return tracks, "detect"
    return object_tracks(frames, max_objects=extract.max_objects, threshold=extract.diff_threshold,
                         min_area=extract.min_area), "motion"


def prior_phase(frames: np.ndarray, prompt: str, prior: PriorConfig, extract: ExtractConfig, *,
                priors: Priors | None = None, annotations: CoarseAnnotations | None = None,
                reading: CoarseAnnotationConfig | None = None) -> PhaseTwo:
    """frames [F, H, W, 3] uint8 of the coarse video (and the annotation stages' rows for it, when they ran)
    -> the optimised motion of its objects and people as part masks."""
    start = time.perf_counter()
    priors, reading = priors or Priors(), reading or CoarseAnnotationConfig()
    f, h, w = frames.shape[:3]
    intensity = intensity_from_text(prompt)
    labels = np.zeros((f, h, w), np.uint8)
    measures: dict[str, Any] = annotations.summary() if annotations is not None else {}

    tracks, source = _objects(frames, extract, annotations, reading.min_track_frames)
    n, result = tracks.centres.shape[1], None
    measures.update({"objects": n, "objects_from": source})
    if n:
        camera = Camera.for_frame(w, h, extract.metres_high)
        obs, radius = camera.to_world(tracks.centres), tracks.radius / camera.ppm  # [F, N, 3], [N]
        free = np.full(n, extract.free_objects)
        result = optimise_objects(obs, tracks.seen.astype(np.float32), radius, free, prior,
                                  intensity=intensity, prior=priors.objects)
        object_masks(result.positions, radius, camera, first_label=OBJECT_BASE, out=labels)
        measures.update({**motion_measures(obs, radius, prior.fps, free, "extracted_"),
                         **motion_measures(result.positions, radius, prior.fps, free, "optimised_")})

    bodies: list[BodyResult] = []
    if annotations is not None and annotations.body_model is not None:
        people, skipped = body_tracks(annotations.body_fits, annotations.body_model,
                                      min_frames=reading.min_track_frames, n_frames=f)
        for track in people:
            body = optimise_track(track, prior, intensity=intensity, prior=priors.bodies)
            draw_body(world_to_pixels(body.result.positions, track.camera), labels, reading.limb_px, track.frames)
            bodies.append(body)
        measures.update({"people": len(bodies), **({"people_skipped": skipped} if skipped else {}),
                         **_mean_measures([b.measures for b in bodies])})
    found = n > 0 or bool(bodies)
    return PhaseTwo(labels, 1.0 if found else 0.0, int(labels.max()), result, measures,
                    time.perf_counter() - start, bodies)


def _mean_measures(per_body: list[dict[str, float]]) -> dict[str, float]:
    """Each body measure's mean over the bodies."""
    keys = sorted({k for m in per_body for k in m})
    return {k: round(float(np.mean([m[k] for m in per_body if k in m])), 6) for k in keys}
