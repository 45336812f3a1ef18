"""The analysis' working frames straight from the decoder's planes (`planes_linear`, the default) are the swscale
FAST_BILINEAR frames to within a few grey levels, sources in other pixel formats still scale, and on the shared
real videos both scalers give the same shots and keep/reject decisions as the full-rate golden ones."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest

from physflow.stages.analyze import AnalyzeConfig
from physflow.stages.common.video_io import PLANES_AREA, PLANES_LINEAR, iter_frames
from tests.stages.analyze.test_sampling import GOLDEN, decisions


def test_planes_frames_are_close_to_swscale_frames(real_videos):
    path = real_videos / "sam2_04_coffee_pour.mp4"  # 1280x720 H.264
    planes = [a.copy() for _, a in iter_frames(path, end=40, width=256, fmt="yuv420p", interpolation=PLANES_LINEAR)]
    scaled = [a.copy() for _, a in iter_frames(path, end=40, width=256, fmt="yuv420p", interpolation="FAST_BILINEAR")]
    assert len(planes) == len(scaled) == 40
    assert {a.shape for a in planes} == {a.shape for a in scaled} == {(216, 256)}  # 144 luma rows + 72 chroma
    diff = [np.abs(a.astype(np.int16) - b).mean() for a, b in zip(planes, scaled, strict=True)]
    assert max(diff) < 5.0, diff  # grey levels of 255 (the two sample a 5x reduction at different phases)


def test_area_planes_are_swscale_area_frames(real_videos):
    """`planes_area` (OpenCV's area filter on the decoder's planes) against swscale's AREA, from 1280x720."""
    path = real_videos / "sam2_04_coffee_pour.mp4"
    planes = [a.copy() for _, a in iter_frames(path, end=20, width=256, fmt="yuv420p", interpolation=PLANES_AREA)]
    scaled = [a.copy() for _, a in iter_frames(path, end=20, width=256, fmt="yuv420p", interpolation="AREA")]
    assert {a.shape for a in planes} == {a.shape for a in scaled} == {(216, 256)}
    diff = [np.abs(a.astype(np.int16) - b).mean() for a, b in zip(planes, scaled, strict=True)]
    assert max(diff) < 1.5, diff


def test_other_pixel_formats_fall_back_to_swscale(tmp_path):
    path = tmp_path / "mjpeg.avi"  # full-range yuvj420p: not the planes' format
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuvj420p"
        for i in range(5):
            rgb = np.full((240, 320, 3), 40 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    frames = list(iter_frames(path, width=128, fmt="yuv420p", interpolation=PLANES_LINEAR))
    assert len(frames) == 5 and all(a.shape == (144, 128) for _, a in frames)
    with pytest.raises(ValueError, match="scaled yuv420p"):
        next(iter_frames(path, width=128, fmt="rgb24", interpolation=PLANES_LINEAR))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("scaler", ["planes_linear", "FAST_BILINEAR"])
def test_both_scalers_decide_as_the_golden_full_rate_analysis(real_videos, scaler):
    assert decisions(real_videos, AnalyzeConfig(scaler=scaler)) == json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("factor", [1, 3, 5, 7, 15])
def test_an_odd_whole_reduction_is_opencvs_bilinear_resize(factor):
    """The working frame of a source an odd whole number of times its size (a 1280x720 video's at 256 px: 5) is
    taken by stride, and is byte for byte what OpenCV's bilinear resize of each plane gives."""
    import cv2

    from physflow.stages.common.video_io import _i420_frame, _i420_planes, _resized_i420, odd_reduction

    width, height = 32, 18
    source = np.random.default_rng(factor).integers(0, 256, (height * factor * 3 // 2, width * factor), np.uint8)
    want = np.empty((height * 3 // 2, width), np.uint8)
    (luma, chroma), (source_luma, source_chroma) = _i420_planes(want), _i420_planes(source)
    cv2.resize(source_luma, (width, height), dst=luma, interpolation=cv2.INTER_LINEAR)
    for k in (0, 1):
        cv2.resize(source_chroma[k], (width // 2, height // 2), dst=chroma[k], interpolation=cv2.INTER_LINEAR)
    assert odd_reduction(source_luma.shape, luma.shape) == (factor, factor)
    assert np.array_equal(_resized_i420(_i420_frame(source), width, height), want)


def test_other_reductions_are_left_to_opencv():
    from physflow.stages.common.video_io import odd_reduction

    assert odd_reduction((1080, 1920), (144, 256)) is None  # 7.5 times
    assert odd_reduction((288, 512), (144, 256)) is None  # twice: OpenCV averages two pixels there
    assert odd_reduction((720, 1280), (144, 256)) == (5, 5)
    assert odd_reduction((360, 1280), (72, 128)) is None  # 5 rows to one, 10 columns
