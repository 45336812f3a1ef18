"""Preview images for a run summary: the middle frame of readable videos, one PNG per video, written once.

`previews/<video_id>.png` under the catalog root; a preview already there is reused, so a warm
pipeline run decodes no video for it.
"""

from __future__ import annotations

import logging

import cv2

from physflow.data_catalog import Catalog
from physflow.stages.common.video_io import iter_frames

PREVIEWS_DIR = "previews"
PREVIEW_WIDTH = 256

log = logging.getLogger("physflow.previews")


def write_previews(catalog: Catalog, limit: int) -> list[str]:
    """Paths of up to `limit` preview images, writing the missing ones; a video that fails is left out."""
    rows = catalog.query(
        "SELECT video_id, uri, n_frames FROM videos WHERE error IS NULL AND n_frames > 0 ORDER BY video_id LIMIT ?",
        [limit],
    ).to_pylist()
    paths = []
    for row in rows:
        path = catalog.root.path(PREVIEWS_DIR, f"{row['video_id']}.png")
        if not catalog.root.exists(path):
            mid = row["n_frames"] // 2
            try:
                frame = next(f for _, f in iter_frames(row["uri"], start=mid, end=mid + 1, width=PREVIEW_WIDTH))
                ok, png = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                if not ok:
                    raise ValueError("PNG encoding failed")
            except Exception as exc:  # a video that will not decode gets no preview; the run goes on
                log.warning("no preview for %s: %s", row["uri"], exc)
                continue
            catalog.root.write_bytes_atomic(path, png.tobytes())
        paths.append(path)
    return paths
