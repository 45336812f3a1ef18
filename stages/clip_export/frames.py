"""One decode pass per video for all its re-encoded clips, jumping to the keyframe before each clip.

Frames are numbered in presentation order from 0, as analysis numbered them; after a seek a frame's number
is the rank of its timestamp among the video's packets (`PacketIndex.frame_pts`). Without an index (missing
or repeated timestamps) the video is decoded from its first frame.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Container, Iterator, Sequence

import av
from av.video.reformatter import ColorRange, VideoReformatter

from physflow.stages.clip_export.remux import PacketIndex, seek_to_keyframe
from physflow.stages.common.colour import described, is_hdr, to_sdr
from physflow.stages.common.prefetch import prefetched
from physflow.stages.common.video_io import (
    _i420_frame,
    _rotation,
    configure_decoder,
    deinterlaced,
    full_range,
    open_video,
    pixel_aspect,
    same_colour,
    turned,
    video_stream,
)

Frames = Iterator[tuple[int, av.VideoFrame | None]]
PREFETCH = 8  # frames decoded and scaled ahead on a reader thread while the encoder works
SCALER = "AREA"
"""swscale's filter from the source to the export size. Against a Lanczos reference of the same size, HD frames
area-averaged to 456x256 measured 45.8 dB PSNR (luma) and bilinear ones 42.2 dB, with area about a third faster."""


def out_width(width: float, height: int, short_side: int) -> int:
    """Even output width of a frame shown `width` x `height` with its short side at most `short_side` (0 when the
    size is unknown)."""
    if not width or not height:
        return 0
    scale = min(1.0, short_side / min(width, height))
    return max(2, round(width * scale / 2) * 2)


def clip_frames(path: str | os.PathLike[str], index: PacketIndex | None, spans: Sequence[tuple[int, int]],
                short_side: int | None, encoded: Container[int] | None = None) -> Iterator[Frames]:
    """For each span [start, end) in order, an iterator of its (frame number, yuv420p frame) pairs; consume each
    before asking for the next. Frames come as a player shows them: in square pixels at the display aspect (an
    anamorphic source is stretched), the short side at most `short_side` (None: the stored size), turned by the
    display rotation. Each frame is its own (never a buffer the decoder reuses), for the encoder (`write_video`
    frames). With `encoded`, the frame numbers the caller will encode, the others in the spans come as None
    (decoded, not scaled: dropped to a lower frame rate)."""
    with open_video(path) as c:
        v = video_stream(c)
        configure_decoder(v)
        width = height = None
        if short_side:
            shown = v.codec_context.width * pixel_aspect(v)
            width = out_width(shown, v.codec_context.height, short_side) or None
            height = max(2, round(v.codec_context.height * width / shown / 2) * 2) if width else None
        scaler = VideoReformatter()  # one swscale context for the video, not one per frame
        rank = index.frame_of if index is not None else None
        wanted = encoded if encoded is not None else {i for start, end in spans for i in range(start, end)}

        def decoded() -> Frames:
            """Numbered frames; those outside every span (before a clip, between clips) are not scaled (None)."""
            for order, frame in enumerate(deinterlaced(c.decode(v), v)):
                if rank is not None and frame.pts not in rank:
                    raise ValueError(f"decoded a frame whose timestamp {frame.pts} no packet has")
                i = rank[frame.pts] if rank is not None else order
                yield i, _upright(_scaled(scaler, frame, width, height), _rotation(frame)) if i in wanted else None

        def from_keyframe(keyframe: int) -> Frames:
            if index is not None:
                seek_to_keyframe(c, v, index, keyframe)  # the previous reader has stopped
            return prefetched(decoded(), PREFETCH)

        if index is None:  # no timestamps to seek by: one pass from the first frame
            yield from _Reader(from_keyframe, lambda start: 0).spans(spans)
        else:
            yield from _Reader(from_keyframe, lambda start: index.keyframe_at_or_before(start) or 0).spans(spans)


class _Reader:
    """Numbered frames from one decoder, restarted at the keyframe before a span when that keyframe lies past
    the next frame due (the frames between are never decoded)."""

    def __init__(self, restart: Callable[[int], Frames], keyframe_before: Callable[[int], int]):
        self._restart = restart
        self._keyframe_before = keyframe_before
        self._frames: Frames | None = None
        self._held: tuple[int, av.VideoFrame | None] | None = None  # read past the end of the previous span
        self._due = 0

    def spans(self, spans: Sequence[tuple[int, int]]) -> Iterator[Frames]:
        try:
            for start, end in spans:
                yield self._span(start, end)
        finally:
            self._stop()  # its reader thread ends before the container closes

    def _stop(self) -> None:
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()

    def _span(self, start: int, end: int) -> Frames:
        key = self._keyframe_before(start)
        if self._frames is None or key > self._due:
            self._stop()  # its reader thread ends before the decoder seeks
            self._frames, self._held, self._due = self._restart(key), None, key
        if self._held is not None:
            held, self._held = self._held, None
            if held[0] >= end:
                self._held = held
                return
            if held[0] >= start:
                yield held
        for i, array in self._frames:
            self._due = i + 1
            if i >= end:
                self._held = (i, array)
                return
            if i >= start:
                yield i, array
            if i == end - 1:
                return  # the span is read: the next frame may be past what decodes (a damaged video's end)


def _scaled(scaler: VideoReformatter, frame: av.VideoFrame, width: int | None, height: int | None) -> av.VideoFrame:
    """The frame at the export size in yuv420p video range (16-235: what players and most readers assume), a frame
    of its own for the encoder (`write_video` frames), its pixels never copied, tagged with the colours its source
    is shown with (`colour.described`: an untagged HD source's clip says BT.709, as players read the source, not
    BT.601, as they would read a small untagged clip). Through a reformatter kept for the video: a frame's own
    `reformat(width=...)` sets up a new swscale context each time (about 40% of the scaling cost from HD), for the
    same pixels. A source frame already in that size and format comes back from the scaler as itself, the
    decoder's: it is copied, not touched. A full-range source (many phones, screen recordings) is brought into video
    range: passed through, its blacks and whites were shown crushed and clipped. An HDR source (PQ or HLG) is
    brought to BT.709 SDR (`colour.to_sdr`): carried as it was, a reader that ignores the transfer showed it grey."""
    if is_hdr(frame):
        return to_sdr(scaler, frame, width, height, SCALER)
    full = full_range(frame)
    out = scaler.reformat(frame, width=width, height=height, format="yuv420p", interpolation=SCALER,
                          src_color_range=ColorRange.JPEG if full else None,
                          dst_color_range=ColorRange.MPEG if full else None)
    if out is frame:
        out = _i420_frame(out.to_ndarray())
        out.color_range = frame.color_range
    return described(out, frame)


def _upright(frame: av.VideoFrame, clockwise: int) -> av.VideoFrame:
    """A scaled yuv420p frame turned clockwise as a player shows it (a new frame), or itself when not turned."""
    return same_colour(_i420_frame(turned(frame.to_ndarray(), clockwise, i420=True)), frame) if clockwise else frame
