"""Exported clips are addressed by content, so the same clip must encode to the same bytes every time.

libx264's lookahead (macroblock tree) read stack memory it had not written, so the bytes of a clip depended on
which threads had run in the process before (a new thread reuses the stack of one that ended). The encoder now
runs with `cpu-independent`, which takes another code path there. Here one real clip is exported six times in
one process; each export's reader and decoder threads end before the next starts. Before the fix, three runs of
this test in four failed.
"""

from __future__ import annotations

import itertools

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


def test_scaled_frames_encode_as_their_pixels_copied_would(tmp_path, real_videos):
    """Export hands the scaler's frames to the encoder (`encodable`) instead of copying their pixels into new
    frames; the bytes must be those of the copies. A decoded frame carries a timestamp in the source's time base and
    a picture type, which the encoder would otherwise take over."""
    import av
    from av.video.frame import PictureType
    from av.video.reformatter import VideoReformatter

    from physflow.stages.common.video_io import encodable, write_video

    scaler, frames, arrays = VideoReformatter(), [], []
    with av.open(str(real_videos / VIDEO)) as c:
        for frame in itertools.islice(c.decode(video=0), 40):
            assert frame.pts is not None
            scaled = scaler.reformat(frame, width=456, height=256, format="yuv420p", interpolation="AREA")
            arrays.append(scaled.to_ndarray())
            frames.append(scaled)
    assert frames[0].pict_type == PictureType.I
    ready = [encodable(f) for f in frames]
    assert all(f.pts is None and f.pict_type == PictureType.NONE for f in ready)
    as_frames = write_video(tmp_path / "frames.mp4", ready, 30000 / 1001, frame_format="frame")
    as_arrays = write_video(tmp_path / "arrays.mp4", arrays, 30000 / 1001, frame_format="yuv420p")
    assert as_frames.read_bytes() == as_arrays.read_bytes()
