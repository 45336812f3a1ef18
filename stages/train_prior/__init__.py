"""train_prior: the learned part of generation's physical prior, trained on the catalog's annotations."""

from physflow.stages.train_prior.config import TrainPriorConfig
from physflow.stages.train_prior.stage import AnnotationSet, TrainPriorStage, run

__all__ = ["AnnotationSet", "TrainPriorConfig", "TrainPriorStage", "run"]
