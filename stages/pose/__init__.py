"""pose: COCO-17 keypoints per person track into `poses` rows."""

from physflow.stages.pose.config import PoseConfig
from physflow.stages.pose.stage import PoseStage, run

__all__ = ["PoseConfig", "PoseStage", "run"]
