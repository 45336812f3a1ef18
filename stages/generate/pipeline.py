"""The three-phase generation of one request (ReVision: coarse -> 3D physics prior -> refine)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from physflow.stages.common.prior.scene import OBJECT_BASE, Camera
from physflow.stages.generate.config import GenerateConfig, GuidanceConfig
from physflow.stages.generate.generator import Condition
from physflow.stages.generate.media import flow_video_tensor, image_tensor, motion_flow, video_measures, video_uint8
from physflow.stages.generate.prior.coarse import CoarseAnnotator
from physflow.stages.generate.prior.phase import PhaseTwo, Priors, prior_phase


class VideoGenerator(Protocol):
    joint: bool

    def sample(self, first: torch.Tensor, prompts: list[str], cond: Condition, *, frames: int, steps: int,
               guidance: GuidanceConfig, generator: torch.Generator) -> torch.Tensor: ...


@dataclass(frozen=True)
class GenerateRequest:
    """One video to generate: a prompt, the first frame (RGB uint8 [H, W, 3]), an optional target for the
    final frame (a part label map [H, W], 0 = none: a sketch and/or a target pose, targets.sketch_labels) and a
    seed."""

    prompt: str
    image: np.ndarray
    seed: int = 0
    sketch: np.ndarray | None = None


@dataclass
class GenerationResult:
    coarse: np.ndarray  # [F, H, W, 3] uint8
    prior: PhaseTwo  # part masks [F, H, W] and the optimiser's measures
    refined: np.ndarray  # [F, H, W, 3] uint8
    measures: dict[str, dict[str, Any]] = field(default_factory=dict)  # per phase
    seconds: dict[str, float] = field(default_factory=dict)  # per phase


class GenerationPipeline:
    """generator + config (+ learned temporal priors, + the annotation stages phase 2 reads the coarse video
    with); call it with a request."""

    def __init__(self, generator: VideoGenerator, config: GenerateConfig, priors: Priors | None = None,
                 annotator: CoarseAnnotator | None = None):
        self.generator = generator
        self.config = config
        self.priors = priors or Priors()
        self.annotator = annotator

    def _sketch_condition(self, sketch: np.ndarray | None) -> Condition:
        """Empty, or the sketch on the final frame at the sketch confidence (the rest empty)."""
        cfg = self.config
        if sketch is None:
            return Condition()
        labels = torch.zeros(1, cfg.frames, cfg.height, cfg.width)
        labels[0, -1] = torch.from_numpy(_resize_labels(sketch, cfg.width, cfg.height).astype(np.float32))
        confidence = torch.zeros(1, cfg.frames)
        confidence[0, -1] = cfg.sketch_confidence
        return Condition(labels=labels, confidence=confidence)

    def _mask_condition(self, prior: PhaseTwo) -> Condition:
        """Exact masks of the optimised motion (confidence 1), and for joint models that motion as flow RGB."""
        cfg = self.config
        labels = torch.from_numpy(prior.labels.astype(np.float32))[None]  # [1, F, H, W]
        confidence = torch.full((1, cfg.frames), prior.confidence)
        flow_rgb = None
        if self.generator.joint and prior.result is not None:
            camera = Camera.for_frame(cfg.width, cfg.height, cfg.extract.metres_high)
            centres = camera.to_pixels(prior.result.positions)  # [F, N, 2]
            flow_rgb = flow_video_tensor(motion_flow(prior.labels, centres, OBJECT_BASE))
        return Condition(labels=labels, confidence=confidence, flow_rgb=flow_rgb)

    def _sample(self, first: torch.Tensor, prompt: str, cond: Condition, seed: int) -> np.ndarray:
        cfg = self.config
        device = next(self.generator.parameters()).device
        video = self.generator.sample(first.to(device), [prompt], cond, frames=cfg.frames, steps=cfg.steps,
                                      guidance=cfg.guidance, generator=torch.Generator().manual_seed(seed))
        return video_uint8(video[0])

    def __call__(self, request: GenerateRequest) -> GenerationResult:
        cfg = self.config
        first = image_tensor(request.image, cfg.width, cfg.height)
        prior_cfg = cfg.prior.model_copy(update={"fps": cfg.fps})
        seconds: dict[str, float] = {}

        # 1. Coarse: sample with the empty condition (or the target sketch on the final frame).
        start = time.perf_counter()
        coarse = self._sample(first, request.prompt, self._sketch_condition(request.sketch), request.seed)
        seconds["coarse"] = time.perf_counter() - start

        # 2. 3D: read the coarse video with the annotation stages (detections and tracks, pose, body fits),
        #    optimise the motion of its objects and people under the physical prior, project the optimised
        #    sequence to part masks with confidence 1.
        start = time.perf_counter()
        annotations = self.annotator(coarse, cfg.fps) if self.annotator is not None else None
        prior = prior_phase(coarse, request.prompt, prior_cfg, cfg.extract, priors=self.priors,
                            annotations=annotations, reading=cfg.annotation)
        seconds["prior"] = time.perf_counter() - start

        # 3. Refine: sample again from the same model and the same noise, conditioned on those masks.
        start = time.perf_counter()
        refined = self._sample(first, request.prompt, self._mask_condition(prior), request.seed)
        seconds["refined"] = time.perf_counter() - start

        measures = {
            "coarse": video_measures(coarse, cfg.fps, cfg.extract),
            "prior": dict(prior.measures),
            "refined": video_measures(refined, cfg.fps, cfg.extract),
        }
        return GenerationResult(coarse, prior, refined, measures, {k: round(v, 4) for k, v in seconds.items()})


def _resize_labels(labels: np.ndarray, width: int, height: int) -> np.ndarray:
    """A label map [H, W] resized to width x height (nearest: labels stay labels)."""
    import cv2

    return cv2.resize(labels.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
