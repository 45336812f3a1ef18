"""Per-item caption cache: captions keyed by request hash (stages/common/item_cache.py), so an interrupted or
failed shard resumes without paying again for the captions it already got. Only good captions are kept."""

from __future__ import annotations

from pathlib import Path

from physflow.stages.common.item_cache import TextCache


class CaptionCache(TextCache):
    def __init__(self, path: str | Path):
        super().__init__(path, table="captions", column="caption")
