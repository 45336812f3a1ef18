"""Phase 2 of generation on one coarse video: extract objects, optimise their motion, project to part masks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from models.physics_prior import TemporalPrior
from stages.generate_prior import metrics
from stages.generate_prior.config import ExtractConfig, PriorConfig
from stages.generate_prior.optimise import PriorResult, optimise_objects
from stages.generate_prior.scene import OBJECT_BASE, Camera, object_masks, object_tracks
from stages.generate_prior.terms import intensity_from_text


@dataclass
class PhaseTwo:
    """Part masks for the refine phase and what phase 2 measured on the way."""

    labels: np.ndarray  # [F, H, W] uint8 part label maps (0 = none)
    confidence: float  # 1.0: exact masks of the optimised motion; 0.0: nothing found, an empty condition
    n_parts: int  # the largest label in use
    result: PriorResult | None
    measures: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def motion_measures(x: np.ndarray, radius: np.ndarray, fps: float, free: np.ndarray, prefix: str) -> dict[str, float]:
    """Gravity residual, penetration and jitter of object centres [F, N, 3] (m), keys prefixed."""
    heights = x[..., 1] - radius
    out = {
        "gravity_residual_m_s2": metrics.gravity_residual(x, fps, free, heights),
        "penetration_m": metrics.penetration_depth(heights),
        "jitter_m_s3": metrics.jitter(x, fps),
    }
    return {f"{prefix}{k}": round(v, 6) for k, v in out.items() if np.isfinite(v)}


def prior_phase(frames: np.ndarray, prompt: str, prior: PriorConfig, extract: ExtractConfig,
                object_prior: TemporalPrior | None = None) -> PhaseTwo:
    """frames [F, H, W, 3] uint8 of the coarse video -> optimised object motion as part masks."""
    start = time.perf_counter()
    f, h, w = frames.shape[:3]
    tracks = object_tracks(frames, max_objects=extract.max_objects, threshold=extract.diff_threshold,
                           min_area=extract.min_area)
    n = tracks.centres.shape[1]
    if n == 0:
        empty = np.zeros((f, h, w), np.uint8)
        return PhaseTwo(empty, 0.0, 0, None, {"objects": 0}, time.perf_counter() - start)
    camera = Camera.for_frame(w, h, extract.metres_high)
    obs = camera.to_world(tracks.centres)  # [F, N, 3]
    radius = tracks.radius / camera.ppm
    free = np.full(n, extract.free_objects)
    result = optimise_objects(obs, tracks.seen.astype(np.float32), radius, free, prior,
                              intensity=intensity_from_text(prompt), prior=object_prior)
    labels = object_masks(result.positions, radius, camera, first_label=OBJECT_BASE)
    measures = {"objects": n, **motion_measures(obs, radius, prior.fps, free, "extracted_"),
                **motion_measures(result.positions, radius, prior.fps, free, "optimised_")}
    return PhaseTwo(labels, 1.0, OBJECT_BASE + n - 1, result, measures, time.perf_counter() - start)
