"""The training stage: a training snapshot of the catalog -> a recipe's model trained -> checkpoint rows.

`data/` builds the snapshot and the dataset, `recipes/` the four methods (ReVision, VideoJAM, DiffPhy, WISA),
`loop/` the optimisation loop and checkpoint folders; `stage.py` is the stage, `checkpoint.py` loads one back.
"""

from physflow.stages.train.config import TrainConfig
from physflow.stages.train.stage import TrainInputs, TrainStage, run_id_for

__all__ = ["TrainConfig", "TrainInputs", "TrainStage", "run_id_for"]
