"""The training loop (accelerate), resumable checkpoints and their catalog rows."""

from stages.train_loop.checkpoints import latest_checkpoint, register_checkpoint
from stages.train_loop.config import LoopConfig
from stages.train_loop.loop import TrainResult, train

__all__ = ["LoopConfig", "TrainResult", "latest_checkpoint", "register_checkpoint", "train"]
