"""Quality: per-frame measures on the shared decode (blur, brightness, DIS motion, MSER text, pHash) per clip."""

from physflow.stages.analyze.quality.config import QualityConfig
from physflow.stages.analyze.quality.measures import FrameMeasures, phash, text_area

__all__ = ["FrameMeasures", "QualityConfig", "phash", "text_area"]
