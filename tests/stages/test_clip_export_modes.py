"""Export modes: keyframe cuts by stream copy, the fallback to re-encoding, and seeking before re-encoded clips."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from pydantic import ValidationError

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.storage import Root
from physflow.stages.clip_export import ExportConfig, ExportItem, ExportStage
from physflow.stages.clip_export.frames import clip_frames
from physflow.stages.clip_export.remux import packet_index
from physflow.stages.common.video_io import iter_frames

W, H, FPS, N, GOP = 64, 48, 24, 60, 10


def _frame(i: int) -> np.ndarray:
    """A moving bar whose grey level also encodes the frame number, so frames tell themselves apart."""
    rgb = np.full((H, W, 3), 40 + 3 * i, np.uint8)
    rgb[:, (i * 3) % W:(i * 3) % W + 8] = 250
    return rgb


def _write(path: Path, codec: str) -> Path:
    """A real encoded video: H.264 with a keyframe every GOP frames and B-frames, or MPEG-4 Part 2."""
    with av.open(str(path), mode="w") as c:
        s = c.add_stream(codec, rate=Fraction(FPS))
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        if codec == "libx264":
            s.options = {"preset": "veryfast", "x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=2"}
        for i in range(N):
            c.mux(s.encode(av.VideoFrame.from_ndarray(_frame(i), format="rgb24")))
        c.mux(s.encode())
    return path


@pytest.fixture(scope="module")
def h264(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("src") / "gop10.mp4", "libx264")


def _export(tmp: Path, video: Path, spans: list[tuple[int, int]], mode: str) -> list[dict]:
    clips = [{"clip_id": f"v:{s}-{e}", "video_id": "v", "start_frame": s, "end_frame": e, "width": W, "height": H,
              "fps": float(FPS), "keep": True} for s, e in spans]
    return ExportStage(ExportConfig(mode=mode)).run(
        [ExportItem(root=str(tmp / "catalog"), uri=str(video), clips=clips)]).to_pylist()


def _decoded(tmp: Path, row: dict) -> list[np.ndarray]:
    with av.open(str(BlobStore(Root(tmp / "catalog")).resolve(row["clip_uri"]))) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _source(video: Path) -> list[np.ndarray]:
    return [a.copy() for _, a in iter_frames(video)]


def test_a_keyframe_aligned_clip_is_copied_with_its_frames_unchanged(tmp_path, h264):
    assert packet_index(h264).keyframes == list(range(0, N, GOP))
    row = _export(tmp_path, h264, [(20, 40)], "auto")[0]
    assert (row["error"], row["export_mode"]) == (None, "copy")
    frames, source = _decoded(tmp_path, row), _source(h264)
    assert len(frames) == 20
    # Stream copy decodes to the very pixels of the source's frames 20..39, the first one first.
    assert np.array_equal(frames[0], source[20]) and all(np.array_equal(a, b) for a, b in zip(frames, source[20:40], strict=True))


def test_auto_reencodes_a_clip_off_a_keyframe_and_copy_mode_names_why_it_cannot(tmp_path, h264):
    auto = _export(tmp_path, h264, [(15, 40)], "auto")[0]
    assert (auto["error"], auto["export_mode"]) == (None, "reencode")
    frames, source = _decoded(tmp_path, auto), _source(h264)
    assert len(frames) == 25
    assert np.abs(frames[0].astype(int) - source[15]).mean() < 4  # lossy, but frame 15 (not 10, not 0)
    assert np.abs(frames[0].astype(int) - source[10]).mean() > 10
    copy = _export(tmp_path, h264, [(15, 40)], "copy")[0]
    assert copy["clip_uri"] is None and "non-keyframe (frame 15; keyframe before it: 10)" in copy["error"]


def test_auto_reencodes_a_clip_whose_frames_refer_past_its_end(tmp_path, h264):
    # In decode order after keyframe 20 come 20, 22, 21, 24, 23, ...: frames up to 33 need frame 34 or 35.
    index = packet_index(h264)
    assert "reference frames outside the clip" in index.copy_blocker(20, 35)
    assert index.copy_blocker(20, 34) is None
    rows = _export(tmp_path, h264, [(20, 35)], "auto") + _export(tmp_path, h264, [(20, 34)], "auto")
    assert [r["export_mode"] for r in rows] == ["reencode", "copy"]
    assert [len(_decoded(tmp_path, r)) for r in rows] == [15, 14]


def test_auto_reencodes_another_codec(tmp_path):
    mpeg4 = _write(tmp_path / "mpeg4.mp4", "mpeg4")
    row = _export(tmp_path, mpeg4, [(0, 30)], "auto")[0]
    assert (row["error"], row["export_mode"]) == (None, "reencode")
    with av.open(str(BlobStore(Root(tmp_path / "catalog")).resolve(row["clip_uri"]))) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    copy = _export(tmp_path, mpeg4, [(0, 30)], "copy")[0]
    assert "source is mpeg4 yuv420p, not h264 yuv420p" in copy["error"]


@pytest.mark.parametrize("indexed", [True, False], ids=["seeking", "from-frame-0"])
def test_reencoding_reads_the_same_frames_seeking_or_not(h264, indexed):
    spans = [(3, 8), (25, 31), (31, 33), (52, 60)]
    index = packet_index(h264) if indexed else None  # None: no usable timestamps, decode from the first frame
    got = [(i, a) for frames in clip_frames(h264, index, spans, None) for i, a in frames]
    assert [i for i, _ in got] == [i for s, e in spans for i in range(s, e)]
    for i, frame in got:
        assert np.array_equal(frame.to_ndarray(),
                              next(a for _, a in iter_frames(h264, start=i, end=i + 1, fmt="yuv420p")))


def _cut_by_copy(src: Path, out: Path, dropped: int) -> Path:
    """`src` remuxed with its first `dropped` frames before time 0: the MP4 muxer writes an edit list, and the
    demuxer marks those packets discarded (decoded as references, never shown), as in a video cut by stream copy
    off a keyframe."""
    with av.open(str(src)) as c, av.open(str(out), mode="w") as o:
        v = c.streams.video[0]
        stream = o.add_stream_from_template(v)
        shift = round(dropped / FPS / v.time_base)
        for packet in c.demux(v):
            if packet.size:
                packet.pts -= shift
                packet.dts -= shift
                packet.stream = stream
                o.mux(packet)
    return out


@pytest.mark.parametrize("mode", ["auto", "copy"])
def test_a_clip_of_a_video_cut_by_stream_copy_holds_the_frames_analysis_numbered(tmp_path, h264, mode):
    """Frames are numbered as the decoder shows them: the 5 discarded ones neither count nor appear. Clips from
    the cut video's frames 12-22 (re-encoded) and 25-35 (copied: it starts on source keyframe 30) hold its own
    frames, source frames 17-27 and 30-40."""
    cut = _cut_by_copy(h264, tmp_path / "cut.mp4", 5)
    shown = _source(cut)
    assert len(shown) == N - 5 and np.array_equal(shown[0], _source(h264)[5])
    rows = sorted(_export(tmp_path, cut, [(12, 22), (25, 35)], mode), key=lambda r: r["clip_id"])
    assert [r["export_mode"] for r in rows] == (["reencode", "copy"] if mode == "auto" else [None, "copy"])
    for row, start in zip(rows, (12, 25), strict=True):
        if row["clip_uri"] is not None:
            frames = _decoded(tmp_path, row)
            assert len(frames) == 10
            assert all(np.abs(a.astype(int) - shown[start + k]).mean() < 4 for k, a in enumerate(frames))


def _timed(path: Path, times_ms: list[int]) -> Path:
    """H.264 whose frame i (grey level 4 i) is shown at times_ms[i]: a variable-rate video when uneven."""
    with av.open(str(path), mode="w") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.codec_context.time_base = s.time_base = Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(np.full((H, W, 3), 4 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            c.mux(s.encode(frame))
        c.mux(s.encode())
    return path


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_a_variable_rate_clip_keeps_the_source_timing(tmp_path, container):
    """Frames every 40 ms with one shown for 240 ms: at a constant 25 fps the clip repeats that frame 6 times,
    so what is shown at each time is the source's; a clip of evenly timed frames holds each frame once."""
    times = [40 * i + (200 if i > 30 else 0) for i in range(60)]
    video = _timed(tmp_path / f"vfr.{container}", times)
    assert packet_index(video).variable_rate(25.0)
    clips = [{"clip_id": "v:20-50", "video_id": "v", "start_frame": 20, "end_frame": 50, "width": W, "height": H,
              "fps": 25.0, "keep": True}]
    row = ExportStage(ExportConfig(mode="reencode")).run(
        [ExportItem(root=str(tmp_path / "catalog"), uri=str(video), clips=clips)]).to_pylist()[0]
    levels = [round(float(f.mean()) / 4) for f in _decoded(tmp_path, row)]
    assert levels == [*range(20, 31), *[30] * 5, *range(31, 50)]  # 30 frames of source, 35 at 25 fps
    even = _timed(tmp_path / f"even.{container}", [40 * i for i in range(60)])
    assert not packet_index(even).variable_rate(25.0)
    row = ExportStage(ExportConfig(mode="reencode")).run(
        [ExportItem(root=str(tmp_path / "catalog"), uri=str(even), clips=clips)]).to_pylist()[0]
    assert [round(float(f.mean()) / 4) for f in _decoded(tmp_path, row)] == list(range(20, 50))


def test_a_clip_ending_where_a_damaged_video_stops_decoding_exports(tmp_path, real_videos):
    """Analysis keeps the 28 frames a damaged real video decodes: the clip of them is read to its last frame
    and no further (the 29th frame fails to decode)."""
    video = real_videos / "broken" / "decord_corrupted.mp4"
    clips = [{"clip_id": "d:0-28", "video_id": "d", "start_frame": 0, "end_frame": 28, "width": 1280,
              "height": 720, "fps": 10.0, "keep": True}]
    row = ExportStage(ExportConfig()).run(
        [ExportItem(root=str(tmp_path / "catalog"), uri=str(video), clips=clips)]).to_pylist()[0]
    assert row["error"] is None, row
    assert len(_decoded(tmp_path, row)) == 28


def test_an_unknown_mode_fails_naming_the_value():
    with pytest.raises(ValidationError, match="fast") as err:
        ExportConfig(mode="fast")
    assert "mode" in str(err.value)


def test_a_resampled_capped_clip_holds_the_frames_due(tmp_path, h264):
    """At half the source rate and at most 12 frames, a 40-frame clip holds source frames 5, 7, ..., 27: only
    those are scaled and encoded; a clip without a cap that runs past the video's end is an error row."""
    clips = [{"clip_id": "v:5-45", "video_id": "v", "start_frame": 5, "end_frame": 45, "width": W, "height": H,
              "fps": float(FPS), "keep": True}]
    stage = ExportStage(ExportConfig(mode="reencode", fps=FPS / 2, max_frames=12))
    assert stage._encoded(5, 45, FPS, FPS / 2) == list(range(5, 29, 2))
    row = stage.run([ExportItem(root=str(tmp_path / "catalog"), uri=str(h264), clips=clips)]).to_pylist()[0]
    assert row["error"] is None, row
    frames, source = _decoded(tmp_path, row), _source(h264)
    assert len(frames) == 12
    for frame, i in zip(frames, range(5, 29, 2), strict=True):
        errors = [np.abs(frame.astype(int) - source[j]).mean() for j in range(N)]
        assert int(np.argmin(errors)) == i
    short = ExportStage(ExportConfig(mode="reencode", fps=FPS / 2)).run(
        [ExportItem(root=str(tmp_path / "catalog"), uri=str(h264), clips=[{**clips[0], "end_frame": N + 5}])])
    assert "video ended before frame 65" in short.to_pylist()[0]["error"]


def test_a_capped_clip_is_read_only_to_its_last_encoded_frame(tmp_path, h264, monkeypatch):
    """Frames past `max_frames` are never decoded: capped at 12 frames, the clip [5, 70) reads source frames 5-16
    and nothing after, and it exports although the video ends (at frame 60) before the clip's end."""
    from physflow.stages.clip_export import stage as export_stage

    read: list[int] = []

    def reading(*args, **kwargs):
        for frames in clip_frames(*args, **kwargs):
            yield ((read.append(i), (i, frame))[1] for i, frame in frames)

    monkeypatch.setattr(export_stage, "clip_frames", reading)
    clips = [{"clip_id": "v:5-70", "video_id": "v", "start_frame": 5, "end_frame": N + 10, "width": W, "height": H,
              "fps": float(FPS), "keep": True}]
    row = ExportStage(ExportConfig(mode="reencode", max_frames=12)).run(
        [ExportItem(root=str(tmp_path / "catalog"), uri=str(h264), clips=clips)]).to_pylist()[0]
    assert row["error"] is None, row
    assert read == list(range(5, 17))
    assert len(_decoded(tmp_path, row)) == 12
