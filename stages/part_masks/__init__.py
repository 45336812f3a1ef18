"""part_masks: body-part and object label maps per frame into `part_masks` rows (PNG blobs)."""

from physflow.stages.part_masks.config import PartMasksConfig
from physflow.stages.part_masks.stage import OBJECT_BASE, PartMasksStage, run

__all__ = ["OBJECT_BASE", "PartMasksConfig", "PartMasksStage", "run"]
