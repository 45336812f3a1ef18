"""Ingest: probe video files into `videos` rows."""

from physflow.stages.ingest.config import IngestConfig
from physflow.stages.ingest.stage import IngestItem, IngestStage, run, video_id

__all__ = ["IngestConfig", "IngestItem", "IngestStage", "run", "video_id"]
