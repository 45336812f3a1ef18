"""The training loop (accelerate), resumable checkpoints and their catalog rows."""

from physflow.stages.train.loop.checkpoints import latest_checkpoint, register_checkpoint
from physflow.stages.train.loop.config import LoopConfig
from physflow.stages.train.loop.loop import TrainResult, train

__all__ = ["LoopConfig", "TrainResult", "latest_checkpoint", "register_checkpoint", "train"]
