from __future__ import annotations

from typing import Literal

from pydantic import Field

from physflow.stages.base import StageConfig
from physflow.stages.physics_metrics.expect import Expectation
from physflow.stages.physics_metrics.metrics import Thresholds


class PhysicsMetricsConfig(StageConfig):
    """Tracking, fitting and violation limits of the physics-fidelity metrics."""

    min_saturation: int = Field(90, ge=1, le=255, description="HSV saturation (0-255) above which a pixel is an object.")
    min_area: int = Field(6, ge=1, le=100_000, description="Smallest blob, in pixels, that counts as an object.")
    fit_tol_px: float = Field(0.6, gt=0.0, le=20.0, description="Quadratic-fit tolerance of a motion segment, px.")
    min_len: int = Field(5, ge=3, le=100, description="Frames a segment needs for acceleration/restitution estimates.")
    teleport_px: float = Field(3.0, gt=0.0, le=1000.0, description="Smallest continuity gap, px, counted as a teleport.")
    min_smooth_fraction: float = Field(
        0.6, ge=0.0, le=1.0, description="Fraction of frames in smooth segments below which frames are out of order."
    )
    max_radius_drift: float = Field(0.1, ge=0.0, le=10.0, description="Relative radius change flagged as size drift.")
    max_momentum_change: float = Field(
        0.1, ge=0.0, le=10.0, description="|dP| / sum m|v| across a collision flagged as momentum not conserved."
    )
    min_flight_z: float = Field(
        8.0, gt=0.0, le=1000.0, description="Significance |a_y| / sigma(a_y) of a constant-acceleration fit that makes a "
        "segment free flight (any size of g)."
    )
    rest_frames: int = Field(6, ge=2, le=1000, description="Frames an object stays still to be at rest (mid-air check).")
    flow_metrics: bool = Field(True, description="Also compute DIS-flow measures (dynamic degree, smoothness, flicker).")
    stabilise: bool = Field(True, description="Estimate the camera's motion from DIS flow and, unless static, measure "
                            "tracks in the first frame's coordinates.")
    camera_model: Literal["affine", "homography"] = Field(
        "affine", description="Camera motion model: affine (rotation, zoom, shift) or a full homography."
    )
    camera_step: int = Field(4, ge=1, le=64, description="Grid step, px, of the flow samples the camera is fitted to.")
    camera_threshold_px: float = Field(
        0.25, gt=0.0, le=20.0, description="RANSAC inlier distance, px, of the camera fit (small: the stabilised "
        "track chains every frame's estimate, so its errors add up)."
    )
    expected_g_m_s2: float | None = Field(None, ge=0.0, le=1000.0, description="Expected gravity, m/s^2 (needs ppm).")
    seconds_per_frame: float | None = Field(
        None, gt=0.0, le=3600.0, description="Physical seconds one frame spans (a simulation's time base)."
    )
    time_scale: float | None = Field(
        None, gt=0.0, le=1000.0, description="Physical seconds per second of video (0.25: four-times fast forward)."
    )
    expected_restitution: float | None = Field(None, ge=0.0, le=1.0, description="Expected bounce speed ratio.")
    energy_conserved: bool | None = Field(None, description="Collisions are expected to keep kinetic energy.")
    tolerance: float = Field(0.1, gt=0.0, le=10.0, description="Relative deviation from an expected value that is a "
                             "violation.")
    max_frames: int = Field(300, ge=3, le=10_000, description="Frames read per clip at most.")
    width: int | None = Field(None, ge=32, le=4096, description="Decode width in pixels (None: the clip's own).")

    def thresholds(self) -> Thresholds:
        return Thresholds(
            fit_tol_px=self.fit_tol_px, min_len=self.min_len, teleport_px=self.teleport_px,
            min_smooth_fraction=self.min_smooth_fraction, max_radius_drift=self.max_radius_drift,
            max_momentum_change=self.max_momentum_change, min_flight_z=self.min_flight_z, rest_frames=self.rest_frames,
        )

    def expectation(self) -> Expectation:
        return Expectation(g_m_s2=self.expected_g_m_s2, seconds_per_frame=self.seconds_per_frame,
                           time_scale=self.time_scale, restitution=self.expected_restitution,
                           energy_conserved=self.energy_conserved, tolerance=self.tolerance)
