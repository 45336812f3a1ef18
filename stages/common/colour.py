"""How a frame's colours are meant to be shown, and HDR frames brought to SDR for clips that every reader shows alike.

Tags (FFmpeg's enum values, as PyAV's frames and codec contexts give them):
- a YUV matrix, primaries and transfer a video leaves unspecified are read by players by its size: BT.709 from
  1280 pixels wide or more than 576 lines, else BT.601 (625-line primaries at 576 lines, 525-line ones otherwise).
  A clip scaled from an untagged HD video to 456x256 would be read as BT.601: `shown_colour` names what the source
  meant, for the clip to say so;
- HDR video (PQ, SMPTE ST 2084; HLG, ARIB STD-B67: phones record HLG by default) stores light up to 1,000 nits and
  more in BT.2020 colours. Read as SDR, as a reader that ignores the transfer reads it, it looks grey and
  desaturated. `to_sdr` maps it to BT.709 SDR: the HDR reference white (203 nits, ITU-R BT.2408) becomes SDR's,
  and brighter light rolls off smoothly up to the signal's peak instead of clipping.
"""

from __future__ import annotations

from functools import cache

import av
import numpy as np
from av.video.reformatter import VideoReformatter

UNSPECIFIED = 2
BT709, BT470BG, SMPTE170M, BT2020 = 1, 5, 6, 9  # matrices and primaries share these numbers
PQ, HLG = 16, 18  # transfers
HDR_TRANSFERS = (PQ, HLG)

REFERENCE_WHITE_NITS = 203.0
"""HDR diffuse white (ITU-R BT.2408), shown at SDR's peak."""
PEAK_NITS = 1000.0
"""The brightest light a PQ or HLG signal is taken to hold: HLG's nominal display peak, and what most PQ video is
mastered to (the little above it clips)."""
KNEE = 0.75
"""Share of SDR's peak (in linear light) below which HDR light maps one to one: the brighter quarter of the SDR
range rolls off, so that light from reference white up to PEAK_NITS keeps its gradations."""


def shown_colour(frame: av.VideoFrame) -> tuple[int, int, int]:
    """The YUV matrix, primaries and transfer a player shows the frame with: its own tags, and for those it leaves
    unspecified the convention for its size (module docstring). An RGB or palette frame (GIF, PNG, screen-capture
    codecs) has no YUV matrix: the one named is BT.601, the matrix swscale converts it to YUV with."""
    hd = frame.width >= 1280 or frame.height > 576
    matrix = frame.colorspace
    if frame.format.is_rgb or frame.format.has_palette:
        matrix = SMPTE170M  # an RGB frame's own tag says RGB (0), a YUV clip read so would show its planes as GBR
    elif matrix == UNSPECIFIED:
        matrix = BT709 if hd else SMPTE170M
    primaries = frame.color_primaries
    if primaries == UNSPECIFIED:
        primaries = BT709 if hd or matrix == BT709 else (BT470BG if frame.height == 576 else SMPTE170M)
    transfer = frame.color_trc
    if transfer == UNSPECIFIED and primaries in (BT709, BT470BG, SMPTE170M):
        transfer = BT709 if primaries == BT709 else SMPTE170M  # the same curve, named as each family names it
    return matrix, primaries, transfer


def described(frame: av.VideoFrame, source: av.VideoFrame) -> av.VideoFrame:
    """`frame` (a new frame of `source`'s pixels, moved or scaled, in its range) tagged with the colours `source`
    is shown with (`shown_colour`), which an encoder records in the stream."""
    frame.colorspace, frame.color_primaries, frame.color_trc = shown_colour(source)
    return frame


def full_range(frame: av.VideoFrame) -> bool:
    """Whether the frame's values are in full range (0-255), as its range tag says (a 'yuvj' pixel format's too),
    where players and readers assume video range (16-235) unless told. `video_io._array` and swscale keep them as
    they are."""
    return frame.color_range == 2  # AVCOL_RANGE_JPEG


def is_hdr(frame: av.VideoFrame) -> bool:
    """Whether the frame's transfer is PQ or HLG."""
    return frame.color_trc in HDR_TRANSFERS


def to_sdr(scaler: VideoReformatter, frame: av.VideoFrame, width: int | None, height: int | None,
           interpolation: str) -> av.VideoFrame:
    """An HDR frame (`is_hdr`) at `width` x `height` as a yuv420p BT.709 SDR frame in video range, tagged so: scaled
    first at 16 bits per value, then converted (module docstring)."""
    full = full_range(frame)
    big = scaler.reformat(frame, width=width, height=height, format="yuv444p16le", interpolation=interpolation,
                          src_color_range="JPEG" if full else None, dst_color_range="JPEG" if full else None)
    yuv = np.stack([_plane16(big, k) for k in range(3)]).astype(np.float32) / 65535
    from physflow.stages.common.video_io import yuv420p_frame  # here: video_io imports this module

    out = yuv420p_frame(*_bt709_i420(_sdr_rgb(yuv, full, frame.colorspace, frame.color_trc)))
    out.colorspace, out.color_primaries, out.color_trc, out.color_range = BT709, BT709, BT709, 1
    return out


def _plane16(frame: av.VideoFrame, k: int) -> np.ndarray:
    plane = frame.planes[k]
    rows = np.frombuffer(plane, np.uint16).reshape(plane.height, plane.line_size // 2)
    return rows[:, : plane.width]


_KR_KB = {BT709: (0.2126, 0.0722), BT2020: (0.2627, 0.0593)}
"""Luma weights (red, blue) of the YUV matrices HDR video uses; any other (BT.2020's rare constant-luminance
form among them) is read as BT.2020's."""
_BT2020_TO_BT709 = np.array([[1.6605, -0.5876, -0.0728],
                             [-0.1246, 1.1329, -0.0083],
                             [-0.0182, -0.1006, 1.1187]], np.float32)  # linear light (ITU-R BT.2087)


def _sdr_rgb(yuv: np.ndarray, full: bool, matrix: int, transfer: int) -> np.ndarray:
    """Y'CbCr (3 x H x W, 0-1 of the 16-bit scale) of BT.2020 HDR as BT.709 SDR display R'G'B' (0-1)."""
    kr, kb = _KR_KB.get(matrix, _KR_KB[BT2020])
    if full:
        y, cb, cr = yuv[0], yuv[1] - 0.5, yuv[2] - 0.5
    else:  # video range: luma 16-235, chroma 16-240 (x 256)
        y, cb, cr = (yuv[0] - 16 / 256) * (256 / 219), (yuv[1] - 0.5) * (256 / 224), (yuv[2] - 0.5) * (256 / 224)
    r = y + 2 * (1 - kr) * cr
    b = y + 2 * (1 - kb) * cb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    signal = np.clip(np.stack([r, g, b]), 0, 1)
    light = _linear(transfer)[np.rint(signal * 4095).astype(np.int32)]  # in units of reference white
    if transfer == HLG:  # the OOTF: display light from scene light, by the scene's luminance
        scene_y = np.tensordot(np.array([0.2627, 0.6780, 0.0593], np.float32), light, 1)
        light *= (PEAK_NITS / REFERENCE_WHITE_NITS) * np.power(np.maximum(scene_y, 1e-6), 0.2)[None]
    light = np.tensordot(_BT2020_TO_BT709, light, 1)
    np.maximum(light, 0, out=light)
    peak = light.max(axis=0)
    light *= (_roll_off(peak) / np.maximum(peak, 1e-6))[None]
    return np.power(light, 1 / 2.4)  # BT.1886's display gamma, inverted


@cache
def _linear(transfer: int) -> np.ndarray:
    """Linear light of 4,096 signal steps: PQ in units of reference white, HLG in scene light (0-1)."""
    v = np.linspace(0, 1, 4096, dtype=np.float64)
    if transfer == PQ:
        m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
        p = np.power(v, 1 / m2)
        nits = 10000 * np.power(np.maximum(p - c1, 0) / (c2 - c3 * p), 1 / m1)
        return (nits / REFERENCE_WHITE_NITS).astype(np.float32)
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    return np.where(v <= 0.5, v * v / 3, (np.exp((v - c) / a) + b) / 12).astype(np.float32)


def _roll_off(x: np.ndarray) -> np.ndarray:
    """Linear light (1: reference white) mapped into SDR's 0-1: one to one up to KNEE, then rising ever more
    slowly with the same slope at the knee, to reach 1 at PEAK_NITS (brighter still: 1)."""
    top = (PEAK_NITS / REFERENCE_WHITE_NITS - KNEE) / (1 - KNEE)
    u = np.clip((x - KNEE) / (1 - KNEE), 0, top)
    curve = KNEE + (1 - KNEE) * u * (1 + u / (top * top)) / (1 + u)
    return np.where(x <= KNEE, x, curve)


def _bt709_i420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.709 R'G'B' (3 x H x W, 0-1) as video-range 8-bit Y, U and V planes (chroma area-averaged to half size)."""
    import cv2

    r, g, b = rgb
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    h, w = y.shape
    half = ((w + 1) // 2, (h + 1) // 2)  # the chroma planes' size, an odd side rounded up
    cb, cr = (cv2.resize((c - y) / k, half, interpolation=cv2.INTER_AREA) for c, k in ((b, 1.8556), (r, 1.5748)))
    planes = (16 + 219 * y, 128 + 224 * cb, 128 + 224 * cr)
    return tuple(np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in planes)  # type: ignore[return-value]
