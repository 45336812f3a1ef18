"""Kept clips over real videos for the annotation tests, registered without the curation flow."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from physflow.data_catalog import Catalog
from physflow.data_catalog.keys import sha256_text
from physflow.data_catalog.schemas import CLIPS, TABLES
from physflow.flows.ingest import IngestParams, ingest_flow

CLIP_VIDEOS = {"sam2_05_default_juggle.mp4": (0, 24), "mmaction2_basketball_structuralize.mp4": (30, 54)}


def register_clips(catalog_root: Path, real_videos: Path) -> Catalog:
    """Ingest two real videos and register a `clips` artifact of frame ranges over them (one not kept)."""
    ingest_flow(IngestParams(inputs=[str(real_videos / n) for n in CLIP_VIDEOS], catalog=str(catalog_root),
                             ingest={"decode_check": "none"}))
    catalog = Catalog(catalog_root)
    videos = {Path(r["uri"]).name: r for r in catalog.table("videos").to_pylist()}
    rows = []
    for name, (start, end) in CLIP_VIDEOS.items():
        vid = videos[name]["video_id"]
        rows.append({"clip_id": f"{vid}:{start}-{end}", "video_id": vid, "start_frame": start, "end_frame": end,
                     "keep": True})
        rows.append({"clip_id": f"{vid}:100-130", "video_id": vid, "start_frame": 100, "end_frame": 130,
                     "keep": False, "reject_reason": "static"})
    table = pa.Table.from_pylist(rows, schema=TABLES[CLIPS].schema)
    key = sha256_text("test clips " + ",".join(sorted(r["clip_id"] for r in rows)))
    manifest = catalog.artifacts.write(stage="test_clips", version=1, key=key, table_name=CLIPS, table=table,
                                       shard=key[:32], config={}, inputs=[])
    catalog.register(manifest)
    return catalog
