"""The one video decode/encode helper every stage uses (PyAV).

`OPEN_COUNT` counts container opens in this process: tests use it to prove that a cached run touches
no video.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.frame import PictureType
from av.video.reformatter import VideoReformatter

from physflow.stages.common import remote_files
from physflow.stages.common.colour import full_range, is_hdr, to_sdr

OPEN_COUNT = 0
DECODER_THREADS_ENV = "PHYSFLOW_DECODER_THREADS"
_DECODER_THREADS = int(os.environ.get(DECODER_THREADS_ENV) or 0)  # set_decoder_threads


def set_decoder_threads(threads: int) -> None:
    """Decoder threads this process uses where a caller leaves the count to FFmpeg (0: FFmpeg's choice, a
    thread per core plus one); the environment variable PHYSFLOW_DECODER_THREADS sets it at start. A worker
    process that shares the machine with others takes its share of the cores, so the decoders' own threads
    count in the budget instead of oversubscribing it. The decoded pixels do not depend on it; where a broken
    file fails, and FFmpeg's words for it, can (workers that must agree on those use the same count)."""
    global _DECODER_THREADS
    _DECODER_THREADS = max(0, int(threads))


def configure_decoder(stream: av.video.stream.VideoStream, threads: int = 0) -> None:
    """Frame- and slice-threaded decoding with `threads` threads, or this process's budget when 0."""
    stream.thread_type = "AUTO"
    if threads or _DECODER_THREADS:
        stream.thread_count = threads or _DECODER_THREADS

# Leading bytes of the container formats physflow recognises by content.
_EBML = b"\x1a\x45\xdf\xa3"
_MOV_ATOMS = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def sniff_container(path: str | os.PathLike[str]) -> str | None:
    """The container named by a file's leading bytes, or None when they match no known video format."""
    try:
        if remote_files.is_remote(path):
            head = remote_files.head(os.fspath(path), 512)
        else:
            with open(path, "rb") as fh:
                head = fh.read(512)
    except OSError:
        return None
    if len(head) >= 12 and head[4:8] in _MOV_ATOMS:
        return "mov" if head[4:8] != b"ftyp" or head[8:12] == b"qt  " else "mp4"
    if head.startswith(_EBML):
        return "webm" if b"webm" in head[:64] else "mkv"
    if head.startswith(b"FLV"):
        return "flv"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x30\x26\xb2\x75"):
        return "asf"
    if head.startswith(b"YUV4MPEG2"):
        return "y4m"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg"
    if head.startswith(b"\x00\x00\x01\xb3"):
        return "m2v"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return "mpegts"
    if len(head) > 388 and head[4] == head[196] == head[388] == 0x47:
        return "mpegts"  # 192-byte packets (M2TS: AVCHD camcorders' .MTS, Blu-ray)
    if _MXF_KEY in head:  # a partition pack's key, after a run-in if any
        return "mxf"
    if head.startswith(b"\x1f\x07\x00") and len(head) > 3 and head[3] & 0x7F == 0x3F:
        return "dv"  # a DIF sequence's header block (camcorders' DV)
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    elementary = _elementary_stream(head)
    if elementary:
        return elementary
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"RIFF") and head[8:16] == b"WEBPVP8X" and len(head) > 20 and head[20] & 0x02:
        return "webp"  # the extended format with its animation flag set: an animated WebP
    if head.startswith(b"\x89PNG\r\n\x1a\n") and 0 <= head.find(b"acTL") < _find_or_end(head, b"IDAT"):
        return "apng"  # animation control before the first image data: an animated PNG
    return None


_MXF_KEY = b"\x06\x0e\x2b\x34\x02\x05\x01\x01\x0d\x01\x02"
_MAGIC = ((b"nut/multimedia container\x00", "nut"), (b"DKIF", "ivf"), (b".RMF", "rm"))
"""Containers told by their first bytes alone: NUT; IVF (VP8, VP9 and AV1 encoders' raw output); RealMedia."""


def _elementary_stream(head: bytes) -> str | None:
    """The codec of a bare video stream (no container: security cameras, drones and encoders write them) that
    starts with a start code and the unit such a stream starts with: H.264 (a parameter set or an access unit
    delimiter), HEVC (the same), MPEG-4 Part 2 (a visual object sequence)."""
    start = 4 if head.startswith(b"\x00\x00\x00\x01") else 3 if head.startswith(b"\x00\x00\x01") else 0
    if not start or len(head) < start + 2:
        return None
    unit, following = head[start], head[start + 1]
    if unit == 0xB0 and start == 3:
        return "m4v"
    if unit & 0x80:  # the forbidden bit of both NAL unit headers
        return None
    if (unit & 0x1F == 7 and unit & 0x60) or unit & 0x1F == 9:
        return "h264"  # a sequence parameter set (referenced), or an access unit delimiter
    if (unit >> 1) & 0x3F in (32, 33, 35) and following & 0x07:
        return "hevc"  # a video or sequence parameter set, or an access unit delimiter; temporal id + 1 above 0
    return None


def _find_or_end(data: bytes, part: bytes) -> int:
    found = data.find(part)
    return len(data) if found < 0 else found


FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_FRAME_RATE = 25.0
"""Frames per second of a folder of numbered image frames, unless the caller names one."""
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)$")


@dataclass(frozen=True)
class FrameSequence:
    """A folder of numbered image frames as FFmpeg's image2 demuxer reads it: `pattern` (printf style) from
    `start` on, `count` frames with no gap."""

    pattern: str
    start: int
    count: int


def frame_sequence(folder: str | os.PathLike[str]) -> FrameSequence | None:
    """The numbered frames of `folder` (at least two PNG/JPEG files named prefix + number, one prefix and
    suffix), or None when it holds none. Frames after the first gap in the numbering are not part of it."""
    groups: dict[tuple[str, str, int], list[int]] = {}
    for path in Path(folder).iterdir():
        match = _NUMBERED.match(path.stem)
        if path.is_file() and path.suffix.lower() in FRAME_SUFFIXES and match:
            digits = match.group("number")
            width = len(digits) if digits.startswith("0") else 0  # zero-padded numbers keep one width
            groups.setdefault((match.group("prefix"), path.suffix, width), []).append(int(digits))
    if not groups:
        return None
    (prefix, suffix, width), numbers = max(groups.items(), key=lambda kv: len(kv[1]))
    numbers.sort()
    count = next((i for i, (a, b) in enumerate(itertools.pairwise(numbers), 1) if b != a + 1), len(numbers))
    if count < 2:
        return None
    number = f"%0{width}d" if width else "%d"
    pattern = os.path.join(os.fspath(folder), prefix.replace("%", "%%") + number + suffix)
    return FrameSequence(pattern, numbers[0], count)


@contextlib.contextmanager
def open_video(path: str | os.PathLike[str], frame_rate: float = DEFAULT_FRAME_RATE) -> Iterator[av.container.InputContainer]:
    """Open a container for reading (counted in OPEN_COUNT); a folder of numbered frames opens as one video
    at `frame_rate` frames per second; an object-store URI opens this machine's copy of it."""
    global OPEN_COUNT
    OPEN_COUNT += 1
    if not remote_files.is_remote(path):
        with _open_local(path, frame_rate) as container:
            yield container
        return
    uri = os.fspath(path)
    try:
        with _open_local(remote_files.local_copy(uri), frame_rate) as container:
            yield container
    except av.FFmpegError as exc:  # named by the object, not this machine's copy of it
        if not exc.filename:
            raise
        raise type(exc)(exc.errno, exc.strerror, remote_files.location(uri), exc.log) from None


@contextlib.contextmanager
def _open_local(path: str | os.PathLike[str], frame_rate: float) -> Iterator[av.container.InputContainer]:
    if os.path.isdir(path):
        seq = frame_sequence(path)
        if seq is None:
            raise ValueError(f"{path} is a folder without numbered PNG/JPEG frames")
        container = av.open(seq.pattern, mode="r", format="image2",
                            options={"start_number": str(seq.start), "framerate": str(frame_rate)})
    elif sniff_container(path) == "webp":
        container = av.open(_webp_as_video(path), mode="r")
    else:
        container = av.open(os.fspath(path), mode="r")
    try:
        yield container
    finally:
        container.close()


def _webp_as_video(path: str | os.PathLike[str]) -> io.BytesIO:
    """An animated WebP as an in-memory lossless video (FFV1 in Matroska) at its mean frame duration: the
    FFmpeg PyAV bundles demuxes animated WebP but cannot decode it; Pillow can."""
    from PIL import Image

    buf = io.BytesIO()
    with Image.open(path) as image, av.open(buf, mode="w", format="matroska") as out:
        frames, durations = [], []
        for i in range(getattr(image, "n_frames", 1)):
            image.seek(i)
            image.load()
            frames.append(np.asarray(image.convert("RGB")))
            durations.append(image.info.get("duration") or 1000 / DEFAULT_FRAME_RATE)
        rate = Fraction(1000 * len(durations), round(sum(durations))).limit_denominator(1001)
        stream = out.add_stream("ffv1", rate=rate)
        stream.width, stream.height, stream.pix_fmt = image.width, image.height, "bgr0"
        for rgb in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="bgr0")))
        out.mux(stream.encode())
    buf.seek(0)
    return buf


@dataclass
class VideoInfo:
    container: str | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    n_frames: int | None = None
    duration_s: float | None = None
    rotation: int = 0
    has_audio: bool = False
    error: str | None = None


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The container's main video stream, as FFmpeg picks it: not a cover picture stored as a one-frame video
    stream ahead of it (MP4 and Matroska files carry them). IndexError when there is none."""
    stream = container.streams.best("video")
    if stream is None:
        raise IndexError("no video stream")
    return stream


def _rotation(frame: av.VideoFrame) -> int:
    """Clockwise display rotation in degrees (0, 90, 180, 270) from the frame's display matrix."""
    angle = getattr(frame, "rotation", 0) or 0  # counter-clockwise, as ffmpeg's display matrix reports it
    return round(-angle) % 360


def display_rotation(path: str | os.PathLike[str]) -> int:
    """Clockwise rotation in degrees a player applies to a video's frames (its display matrix; phones film
    upright video as turned landscape frames): 0 when none, or when no frame decodes."""
    with open_video(path) as c:
        stream = video_stream(c)
        stream.thread_count = 1  # one frame: no decoder threads to start
        for frame in c.decode(stream):
            return _rotation(frame)
    return 0


def pixel_aspect(stream: av.video.stream.VideoStream) -> float:
    """Shown width over stored width of a pixel: the sample aspect ratio of anamorphic video (DVD, DV, HDV, broadcast
    frames stretched wider for display), 1 when unset or implausible (outside 1/4-4)."""
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return float(sar) if sar and 0.25 <= sar <= 4 else 1.0


def turned(arr: np.ndarray, clockwise: int, *, i420: bool = False) -> np.ndarray:
    """`arr` (H x W or H x W x C, or with `i420` an (H * 3 / 2) x W planar yuv420p array) turned clockwise by 0,
    90, 180 or 270 degrees, as a player shows it."""
    import cv2  # here: the CLI imports this module, and only frame work needs OpenCV

    if clockwise % 360 == 0:
        return arr
    code = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}[clockwise % 360]
    if not i420:
        return cv2.rotate(arr, code)
    y, chroma = _i420_planes(arr)
    h, w = y.shape[::-1] if clockwise % 180 else y.shape
    out = np.empty((h * 3 // 2, w), np.uint8)
    out_y, out_chroma = _i420_planes(out)
    cv2.rotate(y, code, dst=out_y)
    for k in range(2):
        out_chroma[k] = cv2.rotate(chroma[k], code)
    return out


def _i420_planes(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Views of an (H * 3 / 2) x W planar yuv420p array: its H x W luma, and its two (H / 2) x (W / 2) chroma planes
    as one 2 x (H / 2) x (W / 2) array (each plane's rows run on, two to a row of the array)."""
    h, w = arr.shape[0] * 2 // 3, arr.shape[1]
    return arr[:h], arr[h:].reshape(2, h // 2, w // 2)


def probe(path: str | os.PathLike[str], decode: str = "full", container_name: str | None = None,
          frame_rate: float = DEFAULT_FRAME_RATE) -> VideoInfo:
    """Facts about one video. `decode`: "full" decodes every frame (exact count, finds corruption
    anywhere), "first" decodes one frame, "none" reads headers only. Failures fill `error`. `frame_rate`:
    frames per second of a folder of numbered frames."""
    info = VideoInfo(container=container_name)
    try:
        with open_video(path, frame_rate) as c:
            if not c.streams.video:
                info.error = "no video stream"
                return info
            v = video_stream(c)
            cc = v.codec_context
            info.container = container_name or c.format.name.split(",")[0]
            info.codec, info.width, info.height = cc.name, cc.width, cc.height
            if info.container == "webp":
                info.codec = "webp"  # decoded by Pillow (see _webp_as_video)
            info.fps = _frame_rate(v)
            info.has_audio = bool(c.streams.audio)
            header_frames = v.frames or None
            if c.duration:
                info.duration_s = c.duration / av.time_base
            elif v.duration and v.time_base:
                info.duration_s = float(v.duration * v.time_base)
            if decode == "none":
                info.n_frames = header_frames or _count_packets(c, v)
            else:
                _decode_check(c, v, info, full=decode == "full", header_frames=header_frames)
            if info.duration_s is None and info.n_frames and info.fps:
                info.duration_s = info.n_frames / info.fps
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        info.error = info.error or f"open failed: {_reason(exc)}"
    return info


def uneven(points: Sequence[float], step: float) -> bool:
    """Whether frames shown at `points` (timestamps, in any unit) lie at uneven intervals: one strays from `step`
    by over a quarter of it (a phone's variable-rate video, a dropped frame). Timestamps rounded to milliseconds
    (Matroska, WebM) stay even."""
    return any(abs(b - a - step) > step / 4 for a, b in itertools.pairwise(points))


MAX_FPS = 1000.0
"""The highest frame rate a stream is taken to play at; a mean rate above it is a demuxer's artefact (a bare DV
stream reports 60,000)."""


def _frame_rate(v: av.video.stream.VideoStream) -> float | None:
    """The stream's mean frame rate (frames over duration: right for a variable-rate video too), or where the
    container gives none or an implausible one, the rate FFmpeg guesses from the stream's timing."""
    for rate in (v.average_rate, v.guessed_rate):
        if rate and 0 < rate <= MAX_FPS:
            return float(rate)
    return None


def _decode_check(c, v, info: VideoInfo, *, full: bool, header_frames: int | None) -> None:  # type: ignore[no-untyped-def]
    configure_decoder(v)
    n, last_pts, first = 0, None, None
    try:
        for frame in c.decode(v):
            if first is None:
                first = frame
                info.rotation = _rotation(frame)
            n += 1
            last_pts = frame.pts if frame.pts is not None else last_pts
            if not full:
                break
    except av.FFmpegError as exc:
        info.n_frames = n
        info.error = f"decode failed: {_reason(exc)} (after {n} frames)"
        return
    if n == 0:
        info.error = "decode failed: no frame decodes"
        info.n_frames = 0
        return
    info.n_frames = n if full else (header_frames or n)
    if full and info.duration_s is None and last_pts is not None and v.time_base and info.fps:
        # No container duration (e.g. some WebM): end of the last frame.
        info.duration_s = float(last_pts * v.time_base) + 1.0 / info.fps - float((v.start_time or 0) * v.time_base)


def _count_packets(c, v) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for p in c.demux(v) if p.size)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:300]


def _i420_frame(arr: np.ndarray) -> av.VideoFrame:
    """A yuv420p frame from an (H * 3 / 2) x W array (`yuv420p_frame`)."""
    y, (u, v) = _i420_planes(arr)
    return yuv420p_frame(y, u, v)


def yuv420p_frame(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> av.VideoFrame:
    """A yuv420p frame of these planes (uint8; chroma half the luma's size, an odd side rounded up), each plane's
    row padding filled by repeating its last pixel: the encoder reads past the width, and uninitialised padding
    made the same frames encode to different bytes from one process to the next."""
    frame = av.VideoFrame(y.shape[1], y.shape[0], "yuv420p")
    for plane, data in zip(frame.planes, (y, u, v), strict=True):
        rows = _plane_rows(plane)
        rows[:, : data.shape[1]] = data  # written in place: no padded copy
        rows[:, data.shape[1]:] = data[:, -1:]
    return frame


_COLOUR = ("colorspace", "color_range", "color_primaries", "color_trc")
"""A frame's colour description: YUV matrix, range, primaries, transfer (PyAV's names, on frames and codecs)."""


def same_colour(frame: av.VideoFrame, source: av.VideoFrame) -> av.VideoFrame:
    """`frame` (a new frame of `source`'s pixels, moved or scaled) described as `source` is (`_COLOUR`), which
    `write_video` records in the stream for players and readers."""
    for name in _COLOUR:
        setattr(frame, name, getattr(source, name))
    return frame


def encodable(frame: av.VideoFrame) -> av.VideoFrame:
    """A yuv420p frame that a scaler made (a frame of its own, not the decoder's), ready to encode as a new
    picture without copying its pixels: row padding filled as `_i420_frame` fills it, and no timing or picture type
    from the source (the encoder takes a decoder's picture type as a forced frame type, and would rescale its
    timestamps from the source's time base). A frame with side data (captions, user data), which the encoder would
    carry into the stream and PyAV cannot drop, is copied into a new frame instead. `write_video` applies it to the
    frames it is given; applied twice, it changes nothing more."""
    if len(frame.side_data):
        return _i420_frame(frame.to_ndarray())
    for plane in frame.planes:
        rows = _plane_rows(plane)
        rows[:, plane.width:] = rows[:, plane.width - 1:plane.width]
    frame.pts, frame.duration = None, 0  # numbered by the encoder, as a new frame is (`write_video`)
    frame.pict_type = PictureType.NONE
    return frame


PLANES_LINEAR = "planes_linear"
"""`iter_frames` interpolation: OpenCV's bilinear resize straight from the decoder's yuv420p planes, no swscale
pass (about a third of swscale's cost for a small working frame from HD; close to its FAST_BILINEAR). Bilinear
reads 2 x 2 source pixels per output pixel, so a large reduction aliases: fine detail folds into false edges."""
PLANES_AREA = "planes_area"
"""`iter_frames` interpolation: the decoder's yuv420p planes area-averaged by OpenCV (each output pixel the mean of
the source pixels it covers), no swscale pass: the working frame of a 4K video shows what the same video at 720p
shows, where bilinear aliasing makes it read sharper the larger the source."""
_PLANES = (PLANES_LINEAR, PLANES_AREA)


def iter_frames(
    path: str | os.PathLike[str],
    *,
    start: int = 0,
    end: int | None = None,
    width: int | None = None,
    fmt: str = "rgb24",
    threads: int = 0,
    interpolation: str | None = None,
    deblock: bool = True,
    long_side: bool = False,
    as_shown: bool = False,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, HxWxC uint8 array) for frames [start, end), scaled to `width` (aspect kept), or with
    `long_side` to `width` on the longer side (a frame taller than wide gets that height). With `as_shown`, frames
    come as a player shows them: in square pixels at the display aspect (`pixel_aspect`; needs `width`), turned
    by the display rotation (a phone's video; see `display_rotation`).

    Decodes sequentially from the start of the file: one pass per video feeds every per-frame measure.
    `threads` sets the decoder's thread count (0: this process's budget, see `set_decoder_threads`);
    `interpolation` names the swscale filter for scaling (e.g. "FAST_BILINEAR"), or is `PLANES_LINEAR` or
    `PLANES_AREA` for I420 output (`fmt` "yuv420p") resized by OpenCV from yuv420p sources (others go through
    swscale's FAST_BILINEAR or AREA).
    `deblock=False` skips the decoder's in-loop deblocking filter (codecs that have one, e.g. H.264, HEVC, VP9):
    faster, with small differences at block edges, for measures that need no exact pixels.
    An array may view a buffer the decoder reuses for a later frame: copy the ones you keep.
    """
    if interpolation in _PLANES and (fmt != "yuv420p" or not width):
        raise ValueError(f"interpolation {interpolation} gives scaled yuv420p frames: fmt {fmt!r}, width {width}")
    for i, frame, size, turn in _sized_frames(path, start, end, width, threads=threads, deblock=deblock,
                                              long_side=long_side, as_shown=as_shown):
        arr = _array(frame, size, fmt, interpolation)
        yield i, turned(arr, turn, i420=fmt == "yuv420p") if turn else arr


@dataclass(frozen=True)
class WorkingFrame:
    """A frame at analysis' working size, as shown: its yuv420p array (`i420`, (H * 3 / 2) x W), and on the frames
    asked for, its luma area-averaged from the decoded frame (`detail`, H x W; else None, see
    `iter_working_frames`)."""

    index: int
    i420: np.ndarray
    detail: np.ndarray | None
    time: float | None = None  # the frame's timestamp in seconds (None: it has none)


def iter_working_frames(
    path: str | os.PathLike[str],
    *,
    width: int,
    interpolation: str = PLANES_LINEAR,
    threads: int = 0,
    deblock: bool = True,
    detail: Callable[[int], bool] | None = None,
) -> Iterator[WorkingFrame]:
    """Every frame as a player shows it, its longer side at `width` (`iter_frames` with `long_side` and
    `as_shown`), in yuv420p by `interpolation`; and on the frames whose number `detail` accepts, the luma
    area-averaged as well, for measures of sharpness (`detail_luma`).

    A Laplacian's variance, the usual sharpness measure, reads a resampled frame's filter as much as the video:
    a large bilinear reduction aliases fine texture into false edges (the same frames at 1920x1080 read 1.5 times
    sharper than at 640x360), where an area average reads them alike (within 8% from 640 to 1920 px). Frames
    come in video range (luma 16-235), a full-range source's (phones, screen recordings) converted. Arrays may
    view decoder buffers."""
    import cv2

    for i, frame, size, turn in _sized_frames(path, 0, None, width, threads=threads, deblock=deblock,
                                              long_side=True, as_shown=True):
        wants_detail = detail is not None and detail(i)
        if is_hdr(frame):  # brought to SDR as export brings it, area-averaged: its luma is the detail luma
            arr = _array(frame, size, "yuv420p", PLANES_AREA)
            luma = _i420_planes(arr)[0].copy() if wants_detail else None
        else:
            arr = _array(frame, size, "yuv420p", interpolation)
            luma = detail_luma(frame, size) if wants_detail else None  # type: ignore[arg-type]
            if full_range(frame):  # in video range, as the measures read every frame
                arr = _to_video_range(arr)
                luma = None if luma is None else cv2.LUT(luma, _VIDEO_LUMA)
        yield WorkingFrame(i, turned(arr, turn, i420=True) if turn else arr,
                           None if luma is None else turned(luma, turn), frame.time)


_VIDEO_LUMA = np.round(16 + np.arange(256) * 219 / 255).astype(np.uint8)
_VIDEO_CHROMA = np.round(128 + (np.arange(256) - 128) * 224 / 255).astype(np.uint8)


def _to_video_range(i420: np.ndarray) -> np.ndarray:
    """A full-range I420 array brought into video range (luma 16-235, chroma 16-240), as a new array."""
    import cv2

    out = np.empty_like(i420)
    (luma, chroma), (out_luma, out_chroma) = _i420_planes(i420), _i420_planes(out)
    cv2.LUT(luma, _VIDEO_LUMA, dst=out_luma)
    cv2.LUT(chroma, _VIDEO_CHROMA, dst=out_chroma)
    return out


_EIGHT_BIT_LUMA = frozenset({"yuv420p", "yuv422p", "yuv444p", "yuv440p", "yuv411p", "yuv410p", "nv12", "nv21"})
"""Pixel formats whose first plane is the luma in video range, 8 bits per pixel: read as it is, at any size. (The
'yuvj' formats are full range: converted, as swscale converts them, unless a range tag says full range.)"""


def detail_luma(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """The frame's luma (video range, as stored) area-averaged to `size` (width, height). OpenCV averages whole
    blocks fast (0.5 ms from 1280x720) but a fractional reduction slowly (5 ms from 1920x1080), so a reduction of
    4 or more times first averages whole blocks of k x k pixels (k the half reduction, rounded down; the source's
    centre cropped to whole blocks), which leaves the area filter 2 to 4 times to go: a frame measures alike either
    way (a Laplacian's variance within a few percent), where a last step under 2 times blurs the finest detail."""
    import cv2

    if frame.format.name in _EIGHT_BIT_LUMA:
        plane = _plane(frame, 0)
    else:  # converted, an odd side made even (a yuv420p frame's must be)
        even = frame.to_ndarray(format="yuv420p", width=frame.width + frame.width % 2,
                                height=frame.height + frame.height % 2)
        plane = _i420_planes(even)[0]
    h, w = plane.shape
    k = int(min(w / size[0], h / size[1]) // 2)
    if k >= 2:
        top, left = h % k // 2, w % k // 2
        plane = cv2.resize(plane[top: top + h // k * k, left: left + w // k * k], (w // k, h // k),
                           interpolation=cv2.INTER_AREA)
    return cv2.resize(plane, size, interpolation=cv2.INTER_AREA)


def _sized_frames(path: str | os.PathLike[str], start: int, end: int | None, width: int | None, *, threads: int,
                  deblock: bool, long_side: bool, as_shown: bool
                  ) -> Iterator[tuple[int, av.VideoFrame, tuple[int | None, int | None], int]]:
    """Decoded frames [start, end) of the main video stream, each with the (width, height) it scales to (None:
    its own) and the clockwise turn that shows it upright (0 unless `as_shown`); `iter_frames` tells the rest."""
    with open_video(path) as c:
        v = video_stream(c)
        configure_decoder(v, threads)
        if not deblock:
            v.codec_context.options = {**v.codec_context.options, "skip_loop_filter": "all"}
        height = None
        if width:
            w0, h0 = v.codec_context.width, v.codec_context.height
            if as_shown:
                w0 = w0 * pixel_aspect(v)  # type: ignore[assignment]
            if long_side and h0 > w0:
                width, height = max(2, round(w0 * width / h0 / 2) * 2), width
            else:
                height = max(2, round(h0 * width / w0 / 2) * 2)
        turn = None
        for i, frame in enumerate(deinterlaced(c.decode(v), v, threads)):
            if turn is None:
                turn = _rotation(frame) if as_shown else 0
            if i < start:
                continue
            if end is not None and i >= end:
                break
            yield i, frame, (width, height), turn


def deinterlaced(frames: Iterable[av.VideoFrame], stream: av.video.stream.VideoStream, threads: int = 0
                 ) -> Iterator[av.VideoFrame]:
    """The decoded frames of `stream`, those flagged interlaced (broadcast, DV, camcorders: two fields a field-time
    apart in each frame) deinterlaced by FFmpeg's bwdif, a frame for each frame, the first field's moment: read
    as stored, such frames comb wherever something moves, and scaled down the two moments blend into a ghost.
    Progressive frames pass as they are (a progressive video builds no filter); frames keep their timestamps, so
    frame numbers hold. A decoding error still gives the frames held in the filter before it is raised."""
    graph = None
    try:
        for frame in frames:
            if graph is None and not frame.interlaced_frame:
                yield frame
                continue
            if graph is None:
                graph = _deinterlacer(stream, threads)
            graph.vpush(frame)
            yield from _drained(graph, stream.time_base)
    except av.FFmpegError:
        if graph is not None:
            graph.vpush(None)
            yield from _drained(graph, stream.time_base)
        raise
    if graph is not None:
        graph.vpush(None)
        yield from _drained(graph, stream.time_base)


# Field order as the stream's header tells it (AVFieldOrder: TT, BB, TB, BT): which field is shown first.
_FIRST_FIELD = {2: "tff", 3: "bff", 4: "bff", 5: "tff"}


def first_field(stream: av.video.stream.VideoStream) -> str | None:
    """The field an interlaced stream shows first ('tff': top, 'bff': bottom), as its header tells; None for a
    progressive stream or one whose header does not say."""
    return _FIRST_FIELD.get(int(stream.codec_context.field_order or 0))


def _deinterlacer(stream: av.video.stream.VideoStream, threads: int) -> av.filter.Graph:
    graph = av.filter.Graph()
    graph.threads = threads or _DECODER_THREADS
    source = graph.add_buffer(template=stream)
    # The frames' own top-field-first flag does not reach the filter through PyAV (bwdif then took the bottom
    # field), so the header's field order sets the parity.
    bwdif = graph.add("bwdif", f"mode=send_frame:parity={first_field(stream) or 'auto'}:deint=interlaced")
    source.link_to(bwdif)
    bwdif.link_to(graph.add("buffersink"))
    graph.configure()
    return graph


def _drained(graph: av.filter.Graph, time_base: Fraction) -> Iterator[av.VideoFrame]:
    """The frames the filter has ready, their timestamps back in the stream's time base (bwdif halves it, to
    leave room for a frame per field)."""
    while True:
        try:
            frame = graph.vpull()
        except (av.BlockingIOError, av.EOFError):
            return
        if frame.pts is not None and frame.time_base and frame.time_base != time_base:
            frame.pts = round(frame.pts * frame.time_base / time_base)
            frame.duration = round(frame.duration * frame.time_base / time_base)
            frame.time_base = time_base
        yield frame


_HDR_SCALER = {PLANES_AREA: "AREA", PLANES_LINEAR: "FAST_BILINEAR", None: "BILINEAR"}
"""The swscale filter an HDR frame is scaled with, for each `iter_frames` interpolation (the planes ones read
8-bit planes; an HDR frame is scaled at 16 bits first)."""


def _array(frame: av.VideoFrame, size: tuple[int | None, int | None], fmt: str, interpolation: str | None
           ) -> np.ndarray:
    """A decoded frame as an array of `fmt` at `size`, by `interpolation` (see `iter_frames`). An HDR frame (PQ,
    HLG) comes in BT.709 SDR (`colour.to_sdr`), as export makes its clips: read as it is stored, it looks grey, and
    measures read it dim and soft (on a PQ copy of a real video, brightness 0.479 and blur 174 against 0.704 and
    766 for the SDR original; tests/stages/test_hdr.py)."""
    width, height = size
    if is_hdr(frame):
        swscale = _HDR_SCALER.get(interpolation, interpolation)
        sdr = to_sdr(VideoReformatter(), frame, width, height, swscale)  # type: ignore[arg-type]
        return sdr.to_ndarray() if fmt == "yuv420p" else sdr.to_ndarray(format=fmt)
    if interpolation in _PLANES and frame.format.name == "yuv420p":
        return _resized_i420(frame, width, height, area=interpolation == PLANES_AREA)  # type: ignore[arg-type]
    if interpolation in _PLANES:
        return frame.to_ndarray(format=fmt, width=width, height=height,
                                interpolation="AREA" if interpolation == PLANES_AREA else "FAST_BILINEAR")
    if interpolation:
        return frame.to_ndarray(format=fmt, width=width, height=height, interpolation=interpolation)
    return frame.to_ndarray(format=fmt, width=width, height=height)


def _resized_i420(frame: av.VideoFrame, width: int, height: int, area: bool = False) -> np.ndarray:
    """A yuv420p frame resized to width x height (both even) as an (height * 3 / 2) x width I420 array, bilinear
    or `area`-averaged."""
    import cv2  # here: the CLI imports this module, and only analysis needs OpenCV from it

    out = np.empty((height * 3 // 2, width), np.uint8)
    luma, chroma = _i420_planes(out)
    interpolation = cv2.INTER_AREA if area else cv2.INTER_LINEAR
    for k, dst in enumerate((luma, chroma[0], chroma[1])):
        plane = _plane(frame, k)
        step = None if area else odd_reduction(plane.shape, dst.shape)
        if step is not None:  # the bilinear resize's own pixels, taken by stride (about a third of its time)
            dst[...] = plane[step[0] // 2::step[0], step[1] // 2::step[1]]
        else:
            cv2.resize(plane, dst.shape[::-1], dst=dst, interpolation=interpolation)
    return out


def odd_reduction(source: tuple[int, ...], size: tuple[int, ...]) -> tuple[int, int] | None:
    """The (rows, columns) factors by which (height, width) `source` reduces to `size` when both are odd whole
    numbers, else None. Then OpenCV's bilinear resize reads each output pixel from one source pixel alone, the
    centre of its block: it samples output pixel i at (i + 0.5) r - 0.5 = r i + (r - 1) / 2, a whole pixel, with
    weight 1. A 1280x720 source's planes reduce so to the 256 px working frame (by 5), a 3840x2160 one's by 15."""
    rows, cols = source[0] // size[0], source[1] // size[1]
    if rows * size[0] != source[0] or cols * size[1] != source[1] or not rows % 2 or not cols % 2:
        return None
    return rows, cols


def _plane(frame: av.VideoFrame, k: int) -> np.ndarray:
    """Plane `k` of a decoded frame as a view (no copy) of its visible pixels."""
    plane = frame.planes[k]
    return _plane_rows(plane)[:, : plane.width]


def _plane_rows(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A frame plane's rows, padding included (height x line_size), as a view of its buffer."""
    return np.frombuffer(plane, np.uint8)[: plane.line_size * plane.height].reshape(plane.height, plane.line_size)


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray] | Iterable[av.VideoFrame],
    fps: float,
    *,
    codec: str = "libx264",
    crf: int = 23,
    pix_fmt: str = "yuv420p",
    frame_format: str = "rgb24",
    preset: str = "veryfast",
    x264_params: str = "",
) -> Path:
    """Encode uint8 frames to a video file: RGB (H x W x 3, even H and W for yuv420p), or, with
    `frame_format="yuv420p"`, planar I420 arrays (H * 3 / 2 x W) that the encoder takes without conversion,
    or with `frame_format="frame"`, yuv420p `av.VideoFrame`s of their own (a scaler's, not a decoder's, whose
    buffers it still uses), made ready in place (`encodable`), whose colour description (the first frame's: YUV
    matrix, range, primaries, transfer) the stream records, so that players and readers convert them as their source.
    libx264 encodes at `preset`, with `x264_params` (`key=value:...`) after the options every encode here gets
    (below)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(os.fspath(out), mode="w") as c:
        stream = None
        for arr in frames:
            if stream is None:
                stream = c.add_stream(codec, rate=rate)
                if isinstance(arr, av.VideoFrame):
                    stream.width, stream.height = arr.width, arr.height
                else:
                    rows = arr.shape[0] * 2 // 3 if frame_format == "yuv420p" else arr.shape[0]
                    stream.width, stream.height = arr.shape[1], rows
                stream.pix_fmt = pix_fmt
                if isinstance(arr, av.VideoFrame):  # the frames' colour description, unless unspecified
                    for name in _COLOUR:
                        setattr(stream.codec_context, name, getattr(arr, name))
                elif frame_format != "yuv420p":  # RGB, converted by swscale's default: BT.601, video range. Said,
                    # so that players do not read an HD video as BT.709, as they read an untagged one
                    stream.codec_context.colorspace, stream.codec_context.color_range = 6, 1  # SMPTE 170M, MPEG
                if codec == "libx264":
                    # Blobs are addressed by content, so the same frames must give the same bytes. One encoder
                    # thread: x264's output depends on its thread count (and varies between threaded runs).
                    # cpu-independent: without it the lookahead's macroblock tree read stack memory it had not
                    # written, and a clip's bytes depended on which threads had run in the process before.
                    params = ":".join(p for p in ("cpu-independent=1", x264_params) if p)
                    stream.options = {"crf": str(crf), "preset": preset, "threads": "1", "x264-params": params}
                    stream.codec_context.thread_count = 1
            if frame_format == "frame":
                frame = encodable(arr)
                frame.time_base = 1 / rate  # the encoder's, not the source's: the encoder numbers the frames
            elif frame_format == "yuv420p":
                frame = _i420_frame(arr)
            else:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=frame_format)
            for packet in stream.encode(frame):
                c.mux(packet)
        if stream is None:
            raise ValueError(f"no frames to write to {out}")
        for packet in stream.encode():
            c.mux(packet)
    return out
