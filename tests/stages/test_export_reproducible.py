"""Exported clips are addressed by content, so the same clip must encode to the same bytes every time.

libx264's lookahead (macroblock tree) read stack memory it had not written, so the bytes of a clip depended on
which threads had run in the process before (a new thread reuses the stack of one that ended). The encoder now
runs with `cpu-independent`, which takes another code path there. Here one real clip is exported six times in
one process; each export's reader and decoder threads end before the next starts. Before the fix, three runs of
this test in four failed.
"""

from __future__ import annotations

from physflow.stages.clip_export import ExportConfig, ExportItem, ExportStage

VIDEO, FRAMES = "sam2_04_coffee_pour.mp4", 287


def test_a_clip_exports_to_the_same_bytes_every_time(tmp_path, real_videos):
    clip = {"clip_id": f"v:0-{FRAMES}", "video_id": "v", "start_frame": 0, "end_frame": FRAMES,
            "width": 1280, "height": 720, "fps": 30000 / 1001, "keep": True}
    item = ExportItem(root=str(tmp_path / "catalog"), uri=str(real_videos / VIDEO), clips=[clip])
    stage = ExportStage(ExportConfig())
    shas = []
    for _ in range(6):
        rows = list(stage.process(item))
        assert len(rows) == 1 and "error" not in rows[0], rows
        shas.append(rows[0]["clip_sha256"])
    assert len(set(shas)) == 1, shas
