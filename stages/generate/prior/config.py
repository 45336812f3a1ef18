"""Config of phase 2 of generation: the parameterised physical prior (DESIGN §7, ReVision)."""

from __future__ import annotations

from pydantic import Field

from physflow.stages.base import StageConfig
from physflow.stages.body_fit.config import BodyFitConfig
from physflow.stages.common.annotation import FrameSampling
from physflow.stages.common.prior.config import PriorConfig, PriorWeights  # noqa: F401  (generate's config nests them)
from physflow.stages.detect.config import DetectConfig
from physflow.stages.pose.config import PoseConfig


class ExtractConfig(StageConfig):
    """How phase 2 finds moving objects in the coarse video and lifts them to metres."""

    max_objects: int = Field(4, ge=1, le=64, description="At most this many object tracks per video.")
    diff_threshold: float = Field(60.0, ge=1, le=765, description="Sum over RGB of |frame - median frame| "
                                  "(0-255 units) above which a pixel belongs to a moving object.")
    min_area: int = Field(4, ge=1, le=100_000, description="Smallest blob (pixels) that counts as an object.")
    metres_high: float = Field(2.0, gt=0, le=1000, description="Height of the frame in metres (the camera "
                               "scale); the bottom row is the ground.")
    free_objects: bool = Field(True, description="Treat objects as free (under gravity alone in the air).")


class CoarseAnnotationConfig(StageConfig):
    """Phase 2 reads the coarse video with the project's annotation stages: detect (boxes, masks and tracks
    of people and objects), pose (COCO-17 keypoints) and body_fit (SMPL per person track). Their weights are
    resolved from the registry by the flow, as for the annotate flow; without weights each stage uses its
    embedded default (HOG people + motion blobs; no keypoints, so no bodies)."""

    enabled: bool = Field(True, description="Run the annotation stages on the coarse video (False: objects from "
                          "motion blobs only, no bodies).")
    sampling: FrameSampling = Field(default_factory=lambda: FrameSampling(stride=1, max_frames=128, width=256),
                                    description="Frames the stages read: every frame, upscaled to this working "
                                    "width (generated videos are small; HOG needs people >= 128 px tall).")
    detect: DetectConfig = Field(default_factory=DetectConfig, description="The detect stage's config.")
    pose: PoseConfig = Field(default_factory=PoseConfig, description="The pose stage's config.")
    body_fit: BodyFitConfig = Field(default_factory=lambda: BodyFitConfig(iters_camera=40, iters_full=120),
                                    description="The body_fit stage's config (fewer steps than annotation's: "
                                    "phase 2 optimises the fits again under the prior).")
    min_track_frames: int = Field(4, ge=2, le=10_000, description="A track seen in fewer frames is noise: no "
                                  "object or body is made of it.")
    limb_px: int = Field(3, ge=1, le=64, description="Thickness (pixels) of the limbs drawn in body part masks.")
