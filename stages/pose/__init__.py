"""pose: COCO-17 keypoints per person track into `poses` rows."""

from stages.pose.config import PoseConfig
from stages.pose.stage import PoseStage, run

__all__ = ["PoseConfig", "PoseStage", "run"]
