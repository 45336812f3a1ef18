"""Blur (a Laplacian's variance on the working frame) reads the video, not its resolution: the same real frames
at 1920x1080, 1280x720 and 640x360 measure alike. Scaled bilinearly to the 256 px working frame, the 720p copy
read 1.4 times sharper than the 360p one, as the reduction's aliasing drew false edges; a 4K source read about
three times sharper than a 320 px one, so a soft 4K clip passed a sharpness threshold that rejected it at 480p."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.common.video_io import detail_luma

FRAMES = 75
SIZES = ((1920, 1080), (1280, 720), (640, 360))


@pytest.fixture(scope="module")
def copies(real_videos, tmp_path_factory) -> tuple[dict[int, Path], float]:
    """sam2_04 (1280x720 H.264) re-encoded at each size, Lanczos-scaled from the same decoded frames."""
    folder = tmp_path_factory.mktemp("sizes")
    with av.open(str(real_videos / "sam2_04_coffee_pour.mp4")) as src:
        stream = src.streams.video[0]
        fps = float(stream.average_rate)
        frames = [f for _, f in zip(range(FRAMES), src.decode(stream), strict=False)]
    paths = {}
    for w, h in SIZES:
        paths[w] = folder / f"{w}.mp4"
        rate = Fraction(fps).limit_denominator(1001)
        with av.open(str(paths[w]), "w") as out:
            s = out.add_stream("libx264", rate=rate)
            s.width, s.height, s.pix_fmt, s.options = w, h, "yuv420p", {"crf": "16", "preset": "veryfast"}
            for i, frame in enumerate(frames):
                scaled = frame.reformat(width=w, height=h, format="yuv420p", interpolation="LANCZOS")
                scaled.pts, scaled.time_base = i, 1 / rate
                out.mux(s.encode(scaled))
            out.mux(s.encode())
    return paths, fps


def _blur(path: Path, fps: float, width: int, height: int, **config) -> float:
    video = {"video_id": path.stem, "uri": str(path), "fps": fps, "width": width, "height": height, "error": None}
    rows = AnalyzeStage(AnalyzeConfig(**config)).run([video]).to_pylist()
    assert len(rows) == 1 and rows[0]["error"] is None, rows
    return rows[0]["blur"]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("scaler", ["planes_linear", "FAST_BILINEAR"])
def test_blur_is_the_same_at_every_source_size(copies, scaler):
    paths, fps = copies
    blur = {w: _blur(paths[w], fps, w, h, scaler=scaler) for w, h in SIZES}
    assert max(blur.values()) / min(blur.values()) < 1.12, blur  # 1082 / 1087 / 1153; bilinear 2948 / - / 1983


def test_detail_luma_averages_whole_blocks_then_the_rest(tmp_path):
    """The area average, fast: a frame 7.5 times the target takes 3 x 3 blocks, then the area filter; a full-range
    MJPEG frame (not yuv420p) is converted first, its luma in video range like the decoder's planes."""
    rng = np.random.default_rng(0)
    luma = rng.integers(16, 236, (1080, 1920), dtype=np.uint8)
    frame = av.VideoFrame(1920, 1080, "yuv420p")
    frame.planes[0].update(np.ascontiguousarray(np.pad(luma, ((0, 0), (0, frame.planes[0].line_size - 1920)))))
    out = detail_luma(frame, (256, 144))
    assert out.shape == (144, 256) and out.dtype == np.uint8
    blocks = luma.reshape(360, 3, 640, 3).mean(axis=(1, 3))  # the whole 3 x 3 blocks: 640x360
    assert abs(out.mean() - blocks.mean()) < 0.5
    assert out.std() < luma.std() / 6  # averaged over about 56 pixels each: noise falls by about 7.5
    full = av.VideoFrame.from_ndarray(np.full((240, 320, 3), 255, np.uint8), format="rgb24").reformat(format="yuvj420p")
    assert detail_luma(full, (128, 96)).shape == (96, 128)
    assert abs(int(detail_luma(full, (128, 96)).mean()) - 235) <= 1  # white in video range, as yuv420p stores it
