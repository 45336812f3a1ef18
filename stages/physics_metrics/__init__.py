"""Physics-fidelity metrics for real, synthetic and generated videos."""

from physflow.stages.physics_metrics.config import PhysicsMetricsConfig
from physflow.stages.physics_metrics.metrics import Thresholds, track_metrics, truth_errors
from physflow.stages.physics_metrics.stage import MetricsItem, PhysicsMetricsStage, measure_frames, measure_video, run
from physflow.stages.physics_metrics.tracking import Track, color_tracks, tracks_from_detections

__all__ = [
    "MetricsItem", "PhysicsMetricsConfig", "PhysicsMetricsStage", "Thresholds", "Track", "color_tracks",
    "measure_frames", "measure_video", "run", "track_metrics", "tracks_from_detections", "truth_errors",
]
