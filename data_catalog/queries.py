"""Catalog reads that several flows share."""

from __future__ import annotations

from typing import Any

from physflow.data_catalog.catalog import Catalog

KEPT_CLIPS_SQL = """
SELECT c.clip_id, c.video_id, c.start_frame, c.end_frame, c.clip_uri, v.uri, v.width, v.height, v.fps
FROM clips c JOIN videos v USING (video_id)
WHERE c.keep AND c.error IS NULL AND v.error IS NULL AND c.end_frame > c.start_frame
ORDER BY c.clip_id
"""


def kept_clip_rows(catalog: Catalog, limit: int | None = None) -> list[dict[str, Any]]:
    """Kept, readable clips with their video's path, size and frame rate (the input of per-clip stages)."""
    return catalog.query(KEPT_CLIPS_SQL + (f" LIMIT {int(limit)}" if limit else "")).to_pylist()
