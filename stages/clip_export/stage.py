"""Clip export: each kept clip as a normalised H.264 MP4 blob, stream-copied where the source allows (`mode`),
else re-encoded, all of a video's re-encoded clips from one decode pass that seeks past the frames between."""

from __future__ import annotations

import bisect
import itertools
import math
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pyarrow as pa

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.schemas import CLIP_FILES
from physflow.data_catalog.storage import Root
from physflow.stages.base import Stage
from physflow.stages.clip_export.config import COPY, REENCODE, TARGET_CODEC, ExportConfig, x264_params
from physflow.stages.clip_export.frames import clip_frames, out_width
from physflow.stages.clip_export.remux import PacketIndex, copy_clip, packet_index
from physflow.stages.common.video_io import display_rotation, write_video

Row = dict[str, Any]
ENCODE_COST = 14
"""An encoded pixel's cost in decoded ones (`ExportStage.cost`), libx264 at the default preset: a frame took about
0.8 ms a million source pixels to decode and scale and, at veryfast, 15 ms a million output pixels to encode (a
640x272 source encoded at 602x256 took as long a frame, 2.3-2.7 ms, as a 1280x720 one at 456x256; counting source
pixels alone put it at a fifth); superfast encodes in 0.63-0.70 of veryfast's time (benchmarks/export_preset.py)."""


@dataclass(frozen=True)
class ExportItem:
    """The kept clips of one video, and the catalog root whose blob store receives them."""

    root: str
    uri: str
    clips: list[Row]


class ExportStage(Stage[ExportConfig, ExportItem]):
    name = "clip_export"
    # 2: clip_uri is the catalog-relative blob reference; 3: own table clip_files, I420 throughout;
    # 4: keyframe-aligned clips of the target codec and size are stream-copied, `export_mode` says which;
    # 5: frames area-averaged to the export size (frames.SCALER), not bilinear; 6: frames turned upright by the
    # source's display rotation (a phone's portrait video was exported lying on its side) and in square pixels (an
    # anamorphic source was exported squeezed); 7: clips carry the source's colour description (a BT.709 source's
    # clip read as BT.601) and a full-range source is converted to video range (its clip showed crushed blacks);
    # interlaced frames are deinterlaced (they combed, and ghosted when scaled); 8: an untagged source's clip says
    # the colours players show the source with (an HD one's was read as BT.601), HDR (PQ, HLG) is brought to SDR;
    # a seek that lands past its keyframe (MPEG-TS, MPEG-PS) steps back (clips came out short); 9: libx264's
    # preset is a setting (`preset`), superfast with veryfast's rate control by default, not veryfast
    VERSION = 9
    Config = ExportConfig
    table = CLIP_FILES
    input_columns = ("clip_id", "start_frame", "end_frame", "width", "height", "fps", "keep")
    cpu_bound = True

    def items(self, inputs: Sequence[ExportItem]) -> Sequence[ExportItem]:
        return list(inputs)

    def count_in(self, inputs: Sequence[ExportItem], items: Sequence[ExportItem]) -> int:
        return sum(len(i.clips) for i in items)

    def identity(self, item: ExportItem) -> list[Row]:
        """The clips (video content id, frame range, size, rate); not where the file lies. Encoding is
        reproducible (video_io.write_video), so the same clips give the same blobs."""
        return item.clips

    def cost(self, item: ExportItem) -> float:
        """Work to re-encode the clips, in decoded pixels: the source frames each clip spans up to its last encoded
        frame, and its encoded frames at the export size weighing `ENCODE_COST` pixels each pixel."""
        total = 0.0
        for clip in item.clips:
            width, height = float(clip.get("width") or 1), float(clip.get("height") or 1)
            src_fps = float(clip.get("fps") or 25.0)
            share = min(self.config.fps or src_fps, src_fps) / src_fps  # of source frames encoded
            encoded = min(max(0, clip["end_frame"] - clip["start_frame"]) * share, self.config.max_frames)
            out = out_width(width, int(height), self.config.short_side) or width
            total += encoded / share * width * height + ENCODE_COST * encoded * out * out * height / width
        return total

    def process(self, item: ExportItem) -> Iterable[Row]:
        blobs = BlobStore(Root(item.root))
        clips = sorted(item.clips, key=lambda r: r["start_frame"])
        first = clips[0]
        src_fps = float(first.get("fps") or 25.0)
        out_fps = min(self.config.fps or src_fps, src_fps)
        width = out_width(first.get("width") or 0, first.get("height") or 0, self.config.short_side)
        index = packet_index(item.uri)  # headers only; tells keyframes and where to seek
        reencode: list[Row] = []
        rotation: int | None = None  # read (one frame decoded) once a clip could be copied
        with tempfile.TemporaryDirectory(prefix="physflow-export-") as tmp:
            for clip in clips:
                blocker = self._copy_blocker(index, clip, width, out_fps < src_fps)
                if blocker is None:
                    rotation = display_rotation(item.uri) if rotation is None else rotation
                    # a copy keeps the frames as stored: a turned source is re-encoded upright instead
                    blocker = f"source is shown turned by {rotation} degrees" if rotation else None
                if blocker is None:
                    path = copy_clip(item.uri, index, clip["start_frame"], clip["end_frame"], Path(tmp) / "clip.mp4")
                    yield self._row(blobs, clip, path, COPY)
                elif self.config.mode == COPY:
                    yield {**_ids(clip), "error": f"export failed: no stream copy: {blocker}"}
                else:
                    reencode.append(clip)
            if reencode:
                yield from self._reencode(reencode, blobs=blobs, tmp=Path(tmp), uri=item.uri, index=index,
                                          src_fps=src_fps, out_fps=out_fps)

    def _copy_blocker(self, index: PacketIndex | None, clip: Row, width: int, resampled: bool) -> str | None:
        """Why a clip cannot be cut by stream copy under this config (None: it can)."""
        if self.config.mode == REENCODE:
            return "mode reencode"
        if index is None:
            return "packet timestamps missing or repeated"
        if (index.codec, index.pix_fmt) != (TARGET_CODEC, "yuv420p"):
            return f"source is {index.codec} {index.pix_fmt}, not {TARGET_CODEC} yuv420p"
        if index.pixel_aspect != 1.0:
            return f"source pixels are not square (shown {index.pixel_aspect:.3g} times as wide)"
        if index.interlaced:
            return "source is interlaced"
        if index.hdr:
            return "source is HDR (brought to SDR by re-encoding)"
        target = (width, round(index.height * width / index.width / 2) * 2) if width else (index.width, index.height)
        if (index.width, index.height) != target or index.height % 2 or index.width % 2:
            return f"source is {index.width}x{index.height}, the target {target[0]}x{target[1]}"
        if resampled:
            return "the frame rate changes"
        if clip["end_frame"] - clip["start_frame"] > self.config.max_frames:
            return f"longer than max_frames ({self.config.max_frames})"
        return index.copy_blocker(clip["start_frame"], clip["end_frame"])

    def _reencode(self, clips: list[Row], *, blobs: BlobStore, tmp: Path, uri: str, index: PacketIndex | None,
                  src_fps: float, out_fps: float) -> Iterable[Row]:
        """All the clips of one video from one decoder that jumps to the keyframe before each clip."""
        for clip in clips:
            if clip["end_frame"] <= clip["start_frame"]:
                yield {**_ids(clip), "error": f"export failed: no frames in [{clip['start_frame']}, {clip['end_frame']})"}
        clips = [c for c in clips if c["end_frame"] > c["start_frame"]]
        # A variable-rate source is resampled by its timestamps, so a clip keeps the source's timing at a constant
        # rate (frames repeat across a gap); an even one by frame counts, as its timestamps say the same.
        times = index.times if index is not None and index.variable_rate(src_fps) else None
        encoded = [self._encoded(c["start_frame"], c["end_frame"], src_fps, out_fps, times) for c in clips]
        # A clip is read to its last encoded frame: frames past `max_frames` are never decoded (at 60 fps a
        # 10-second clip is twice the default 300 frames), those dropped to a lower rate only where they lie
        # between encoded ones.
        spans = [(numbers[0], numbers[-1] + 1) for numbers in encoded]
        decoded = clip_frames(uri, index, spans, self.config.short_side, {i for numbers in encoded for i in numbers})
        for clip, numbers, frames in zip(clips, encoded, decoded, strict=True):
            last, repeats = [numbers[0] - 1], Counter(numbers)
            # Frames stay in I420 from the decoder's scaler to the encoder: no RGB round trip, whose conversion
            # inside the encoder gave different bytes for the same frames depending on buffer alignment.
            path = _write(tmp / "clip.mp4", (a for i, a in _track(frames, last) for _ in range(repeats[i])), out_fps,
                          self.config)
            if path is None or last[0] < numbers[-1]:
                yield {**_ids(clip), "error": f"export failed: video ended before frame {clip['end_frame']}"}
            else:
                yield self._row(blobs, clip, path, REENCODE)

    def _encoded(self, start: int, end: int, src_fps: float, out_fps: float,
                 times: Sequence[float] | None = None) -> list[int]:
        """The source frames of [start, end) that a re-encoded clip holds, in order, the first `max_frames` of them
        (never none: the first frame always starts one): those starting an output frame at the target rate, or
        with `times` (each source frame's time) the frame shown at each output frame's time, repeated across a
        gap in a variable-rate source."""
        if times is None:
            kept = (i for i in range(start, end) if _keep_frame(i - start, src_fps, out_fps))
        else:
            kept = _shown_frames(times, start, end, src_fps, out_fps)
        return list(itertools.islice(kept, self.config.max_frames))

    def _row(self, blobs: BlobStore, clip: Row, path: Path, mode: str) -> Row:
        uri, sha = blobs.put_file(path, "mp4")
        return {**_ids(clip), "clip_uri": blobs.ref(uri), "clip_sha256": sha, "export_mode": mode}

    def error_rows(self, item: ExportItem, reason: str) -> list[Row]:
        return [{**_ids(c), "error": f"export failed: {reason}"} for c in item.clips]


def _ids(clip: Row) -> Row:
    return {"clip_id": clip["clip_id"], "video_id": clip["video_id"]}


def _track(frames: Iterator[tuple[int, av.VideoFrame | None]], last: list[int]
           ) -> Iterator[tuple[int, av.VideoFrame | None]]:
    """The frames, noting the number of the last one read in `last[0]`."""
    for i, array in frames:
        last[0] = i
        yield i, array


def _write(path: Path, frames: Iterator[av.VideoFrame], fps: float, config: ExportConfig) -> Path | None:
    """An H.264 MP4 of yuv420p frames of their own (`video_io.write_video` frames), or None when there are none."""
    try:
        return write_video(path, frames, fps, crf=config.crf, frame_format="frame", preset=config.preset,
                           x264_params=x264_params(config.preset))
    except ValueError as exc:
        if str(exc).startswith("no frames"):
            return None
        raise


def _shown_frames(times: Sequence[float], start: int, end: int, src_fps: float, out_fps: float) -> Iterator[int]:
    """For output frames at `out_fps` from the time of frame `start` to the end of frame `end - 1` (the next
    frame's time, or one source frame after the last), the source frame of [start, end) a player shows at each
    one's time (a quarter of an output frame early still counts: timestamps are rounded)."""
    stop = times[end] if end < len(times) else times[end - 1] + 1 / src_fps
    for k in itertools.count():
        t = times[start] + k / out_fps
        if t >= stop:
            return
        yield bisect.bisect_right(times, t + 0.25 / out_fps, start, end) - 1


def _keep_frame(j: int, src_fps: float, out_fps: float) -> bool:
    """Whether the j-th frame of a clip starts a new output frame when resampling src_fps to out_fps."""
    if out_fps >= src_fps or j == 0:
        return True
    return math.floor(j * out_fps / src_fps) > math.floor((j - 1) * out_fps / src_fps)


def run(inputs: Sequence[ExportItem], config: ExportConfig) -> pa.Table:
    return ExportStage(config).run(inputs)
