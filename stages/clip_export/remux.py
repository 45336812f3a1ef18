"""Keyframe cuts by stream copy: a video's packet index (one demux pass, no decode) and clips remuxed from it.

A clip [start, end) of frames (presentation order, as analysis counts them) can be copied packet for packet
when its first frame is a keyframe and its frames are exactly the first `end - start` packets in decode
order from that keyframe: every reference then lies inside the clip (a B-frame shown before the cut point
but decoded after it, or an open-GOP frame leaning on the previous group, breaks that prefix and the clip
is re-encoded instead).
"""

from __future__ import annotations

import math
import os
from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path

import av

from physflow.stages.common.colour import HDR_TRANSFERS
from physflow.stages.common.video_io import first_field, open_video, pixel_aspect, uneven, video_stream


@dataclass(frozen=True)
class PacketIndex:
    """The video stream's packets in decode order (pts, is keyframe) and the stream facts a copy must match."""

    codec: str
    width: int
    height: int
    pix_fmt: str | None
    time_base: Fraction
    pts: tuple[int, ...]  # decode order
    keyframe: tuple[bool, ...]  # decode order
    frame_pts: tuple[int, ...]  # presentation order: frame i of the analysis is the packet with pts frame_pts[i]
    # (frames the decoder shows: packets an edit list discards, as in a video cut by stream copy, are left out)
    pixel_aspect: float = 1.0  # shown width over stored width of a pixel (video_io.pixel_aspect)
    interlaced: bool = False  # the stream header names a field order (video_io.first_field): broadcast, DV, camcorders
    hdr: bool = False  # the stream header names a PQ or HLG transfer (colour.HDR_TRANSFERS): clips are tone-mapped

    @cached_property
    def frame_of(self) -> dict[int, int]:
        """pts -> frame index (presentation order)."""
        return {p: i for i, p in enumerate(self.frame_pts)}

    @cached_property
    def keyframes(self) -> list[int]:
        """Frame indices (presentation order) of the keyframes."""
        return sorted(self.frame_of[p] for p, k in zip(self.pts, self.keyframe, strict=True) if k and p in self.frame_of)

    @cached_property
    def times(self) -> list[float]:
        """Seconds from the first shown frame to each shown frame (presentation order)."""
        return [float((p - self.frame_pts[0]) * self.time_base) for p in self.frame_pts]

    def variable_rate(self, fps: float) -> bool:
        """Whether the frames are shown at uneven intervals for `fps` (`video_io.uneven`)."""
        return uneven(self.frame_pts, 1 / (fps * float(self.time_base)))  # in ticks of the time base

    def keyframe_at_or_before(self, frame: int) -> int | None:
        keys = self.keyframes
        i = bisect_right(keys, frame)
        return keys[i - 1] if i else None

    def copy_blocker(self, start: int, end: int) -> str | None:
        """Why [start, end) cannot be cut by stream copy, or None when it can."""
        if not 0 <= start < end <= len(self.frame_pts):
            return f"frames {start}-{end} outside the video's {len(self.frame_pts)} packets"
        first = self.pts.index(self.frame_pts[start])
        if not self.keyframe[first]:
            return f"starts on a non-keyframe (frame {start}; keyframe before it: {self.keyframe_at_or_before(start)})"
        wanted = set(self.frame_pts[start:end])
        if set(self.pts[first:first + end - start]) != wanted:
            return f"frames {start}-{end} reference frames outside the clip (reordered across the cut)"
        return None

    def packets(self, start: int, end: int) -> range:
        """Decode-order positions of the packets of a copyable clip [start, end)."""
        first = self.pts.index(self.frame_pts[start])
        return range(first, first + end - start)


def packet_index(path: str | os.PathLike[str]) -> PacketIndex | None:
    """Read every video packet's header (no decode); None when timestamps are missing or repeat, so frame
    positions cannot be told from packets (such videos are decoded from the start)."""
    try:
        return _read_index(path)
    except (av.FFmpegError, OSError, IndexError):
        return None  # the decoder meets the same damage and reports it


def _read_index(path: str | os.PathLike[str]) -> PacketIndex | None:
    with open_video(path) as c:
        v = video_stream(c)
        pts: list[int] = []
        keys: list[bool] = []
        shown: list[int] = []
        for packet in c.demux(v):
            if packet.size == 0:
                continue  # the demuxer's end-of-stream marker
            if packet.pts is None:
                return None
            pts.append(int(packet.pts))
            keys.append(bool(packet.is_keyframe))
            if not packet.is_discard:  # an MP4 edit list drops it: decoded as a reference, never shown
                shown.append(int(packet.pts))
        cc = v.codec_context
        if not shown or len(set(pts)) != len(pts) or v.time_base is None:
            return None
        return PacketIndex(codec=cc.name, width=cc.width, height=cc.height, pix_fmt=cc.format.name if cc.format else None,
                           time_base=v.time_base, pts=tuple(pts), keyframe=tuple(keys), frame_pts=tuple(sorted(shown)),
                           pixel_aspect=pixel_aspect(v), interlaced=first_field(v) is not None,
                           hdr=cc.color_trc in HDR_TRANSFERS)


SEEK_TRIES = 4
"""Keyframes a seek that landed past its target steps back through before it starts from the beginning."""


def seek_to_keyframe(c: av.container.InputContainer, v: av.video.stream.VideoStream, index: PacketIndex,
                     keyframe: int) -> None:
    """Position `c` so that the first keyframe demuxed from `v` is frame `keyframe` (a keyframe) or one before it.
    FFmpeg seeks by timestamp exactly in a container with an index (MP4, Matroska) but by a search in MPEG-TS and
    MPEG-PS (broadcast recordings, DVDs, AVCHD camcorders), which lands up to a few keyframes past the target: the
    frames between were never decoded (a clip came out short, or empty). The landing is checked on the packets;
    past the target, the seek steps back a keyframe at a time, then to the start."""
    target = index.frame_pts[keyframe]
    earlier = [k for k in reversed(index.keyframes) if k <= keyframe][:SEEK_TRIES]
    for k in earlier:
        c.seek(index.frame_pts[k], stream=v, backward=True)
        if _first_keyframe_pts(c, v) <= target:
            c.seek(index.frame_pts[k], stream=v, backward=True)  # the packets read to check, read again
            return
    c.seek(0, backward=True)  # the start of the file (before every timestamp)


def _first_keyframe_pts(c: av.container.InputContainer, v: av.video.stream.VideoStream) -> float:
    """The timestamp of the first keyframe the demuxer reads from where it stands (infinity: none)."""
    for packet in c.demux(v):
        if packet.is_keyframe and packet.pts is not None:
            return float(packet.pts)
    return math.inf


def copy_clip(path: str | os.PathLike[str], index: PacketIndex, start: int, end: int, out: Path) -> Path:
    """Remux the packets of frames [start, end) into an MP4 at `out`, timestamps shifted to start at 0."""
    first = index.pts[index.packets(start, end).start]
    count = end - start
    offset = index.frame_pts[start]
    with open_video(path) as c, av.open(os.fspath(out), mode="w", format="mp4") as o:
        v = video_stream(c)
        stream = o.add_stream_from_template(v)
        seek_to_keyframe(c, v, index, start)
        started = False
        for packet in c.demux(v):
            started = started or packet.pts == first
            if not started or packet.size == 0:
                continue
            packet.pts -= offset
            if packet.dts is not None:
                packet.dts -= offset
            packet.stream = stream
            o.mux(packet)
            count -= 1
            if count == 0:
                break
    if count:
        raise ValueError(f"stream copy found {end - start - count} of the {end - start} packets of frames {start}-{end}")
    return out
