"""The training set: a DuckDB snapshot of kept clips joined with flows, part masks and physics context,
and the torch Dataset that decodes it."""

from stages.train_data.dataset import TrainDataset
from stages.train_data.snapshot import DataConfig, TrainingSnapshot, load_snapshot

__all__ = ["DataConfig", "TrainDataset", "TrainingSnapshot", "load_snapshot"]
