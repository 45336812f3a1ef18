"""Quality: per-frame measures on the shared decode (blur, brightness, DIS motion, MSER text, pHash) per clip."""

from stages.quality.config import QualityConfig
from stages.quality.measures import FrameMeasures, phash, text_area

__all__ = ["FrameMeasures", "QualityConfig", "phash", "text_area"]
