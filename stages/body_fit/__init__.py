"""body_fit: SMPL / SMPL-X fits to 2D keypoint tracks into `body_fits` rows."""

from physflow.stages.body_fit.config import BodyFitConfig
from physflow.stages.body_fit.stage import BodyFitStage, run

__all__ = ["BodyFitConfig", "BodyFitStage", "run"]
