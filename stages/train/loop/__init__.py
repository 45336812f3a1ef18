"""The training loop (accelerate) and the resumable checkpoint folders it writes."""

from physflow.stages.train.loop.checkpoints import complete_checkpoints, latest_checkpoint
from physflow.stages.train.loop.config import LoopConfig
from physflow.stages.train.loop.loop import TrainResult, train

__all__ = ["LoopConfig", "TrainResult", "complete_checkpoints", "latest_checkpoint", "train"]
