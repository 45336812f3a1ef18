"""The training set: a DuckDB snapshot of kept clips joined with flows, part masks and physics context,
and the torch Dataset that decodes it."""

from physflow.stages.train.data.dataset import TrainDataset
from physflow.stages.train.data.snapshot import DataConfig, TrainingSnapshot, load_snapshot

__all__ = ["DataConfig", "TrainDataset", "TrainingSnapshot", "load_snapshot"]
