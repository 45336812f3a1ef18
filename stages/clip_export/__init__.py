"""Clip export: kept clips as normalised H.264 MP4 blobs (PyAV), `clip_uri` in `clips`."""

from physflow.stages.clip_export.config import ExportConfig
from physflow.stages.clip_export.stage import ExportItem, ExportStage, run

__all__ = ["ExportConfig", "ExportItem", "ExportStage", "run"]
