"""Ingest: probe video files into `videos` rows."""

from stages.ingest.config import IngestConfig
from stages.ingest.stage import IngestItem, IngestStage, run

__all__ = ["IngestConfig", "IngestItem", "IngestStage", "run"]
