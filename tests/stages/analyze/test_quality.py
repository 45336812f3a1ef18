"""Quality measures on small synthetic frames: pHash robustness, MSER text area, DIS motion and static."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pyarrow as pa
import pytest

from physflow.data_catalog.keys import file_sha256
from physflow.models.camera_motion import _samples
from physflow.stages.analyze.config import AnalyzeConfig
from physflow.stages.analyze.quality import FrameMeasures, QualityConfig, phash, text_area
from physflow.stages.analyze.quality.measures import _magnitude, squared_bound
from physflow.stages.analyze.stage import AnalyzeStage
from physflow.stages.ingest.config import IngestConfig
from physflow.stages.ingest.stage import IngestItem, IngestStage


def _scene(seed: int, h: int = 144, w: int = 256) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h // 8, w // 8), dtype=np.uint8), (3, 3), 0)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)


def test_phash_survives_resize_and_recompression_but_not_a_new_scene():
    a = _scene(1)
    small = cv2.resize(cv2.resize(a, (128, 72), interpolation=cv2.INTER_AREA), (256, 144))
    _, jpg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 40])
    b = cv2.imdecode(jpg, cv2.IMREAD_GRAYSCALE)
    assert (phash(a) ^ phash(b)).bit_count() <= 6
    assert (phash(a) ^ phash(_scene(2))).bit_count() >= 16


def test_text_area_finds_burned_in_caption_and_not_a_smooth_scene():
    plain = np.tile(np.linspace(60, 200, 256, dtype=np.uint8), (144, 1))
    captioned = plain.copy()
    cv2.rectangle(captioned, (20, 100), (236, 132), 20, -1)
    cv2.putText(captioned, "BREAKING NEWS 24", (26, 124), cv2.FONT_HERSHEY_SIMPLEX, 0.75, 255, 2, cv2.LINE_AA)
    assert text_area(plain) == 0.0
    assert text_area(captioned) > 0.03


def test_stroke_test_of_all_regions_at_once_equals_one_box_at_a_time(real_videos):
    """The stroke-width test runs one distance transform over every region's box stacked on a canvas; each box
    alone (its own transform and masked mean and deviation) must decide the same for every region."""
    from physflow.stages.analyze.quality.measures import _char_shaped, _even_strokes, make_mser
    from physflow.stages.common.video_io import iter_frames

    captioned = np.tile(np.linspace(60, 200, 256, dtype=np.uint8), (144, 1))
    cv2.putText(captioned, "BREAKING NEWS 24", (26, 124), cv2.FONT_HERSHEY_SIMPLEX, 0.75, 255, 2, cv2.LINE_AA)
    frames = [captioned, _scene(3)] + [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for i, f in iter_frames(
        real_videos / "scenedetect_testvideo.mp4", width=256) if i % 60 == 30]
    decided: list[bool] = []
    for gray in frames:
        regions, boxes = make_mser().detectRegions(gray)
        if not len(regions):
            continue
        boxes = np.asarray(boxes, dtype=np.int32).reshape(-1, 4)
        shaped = np.flatnonzero(_char_shaped(regions, boxes, gray.shape[0]))
        alone = []
        for i in shaped:
            x, y, bw, bh = boxes[i]
            patch = np.zeros((bh + 2, bw + 2), np.uint8)
            patch[regions[i][:, 1] - y + 1, regions[i][:, 0] - x + 1] = 1
            mean, std = cv2.meanStdDev(cv2.distanceTransform(patch, cv2.DIST_L2, 3), mask=patch)
            alone.append(std[0, 0] / mean[0, 0] < 0.6)
        together = _even_strokes([regions[i] for i in shaped], boxes[shaped])
        assert together.tolist() == alone
        decided += alone
    assert len(decided) > 500 and any(decided) and not all(decided)


def test_motion_of_a_shifting_texture_and_a_static_one():
    cfg = QualityConfig()
    base = _scene(3, 160, 288)
    moving, still = FrameMeasures(cfg, 25.0), FrameMeasures(cfg, 25.0)
    for i in range(10):
        moving.feed(i, np.ascontiguousarray(base[8:152, 2 * i:2 * i + 256]))
        still.feed(i, np.ascontiguousarray(base[8:152, :256]))
    m, s = moving.clip(0, 10), still.clip(0, 10)
    # 2 px per frame at 256 px wide, measured at 160 px: about 1.25 px over a diagonal of about 184 px.
    assert 0.004 < m["motion_mean"] < 0.012 and not m["static"]
    assert s["motion_p90"] < 1e-3 and s["static"]
    assert len(m["phash"].split("-")) == cfg.hash_keyframes


def test_analysis_is_the_same_alone_and_with_shards_running_concurrently(demo_videos):
    """The default task runner analyses shards in threads of one process: the clips rows must not depend on it.
    (cv2.magnitude's IPP path gave float32 results that varied with buffer alignment, i.e. with what else ran.)"""
    files = [p for p in demo_videos if "truncated" not in p.name]
    videos = IngestStage(IngestConfig()).run([IngestItem(str(p), file_sha256(p)) for p in files]).to_pylist()

    def analyze(video: dict) -> pa.Table:
        return AnalyzeStage(AnalyzeConfig()).run([video])

    alone = [analyze(v) for v in videos]
    for _ in range(8):
        with ThreadPoolExecutor(len(videos)) as pool:
            together = list(pool.map(analyze, videos))
        assert all(a.equals(b) for a, b in zip(alone, together, strict=True))


@pytest.mark.parametrize("limit", [0.0, 1.0, 40.0, 40.5, math.sqrt(1601), 2000.0])
def test_texture_test_by_squared_length_marks_the_pixels_the_square_root_marks(limit):
    rng = np.random.default_rng(7)
    grey = rng.integers(0, 256, (90, 160), dtype=np.uint8)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    # every whole squared length near the limit, besides the Sobel field's own
    near = np.arange(max(0, math.floor(limit * limit) - 3), math.floor(limit * limit) + 4, dtype=np.float64)
    by_root = np.sqrt(near) > limit
    assert list(near > squared_bound(limit)) == list(by_root)
    textured = cv2.multiply(gx, gx) + cv2.multiply(gy, gy) > squared_bound(limit)
    assert np.array_equal(textured, _magnitude(gx, gy) > limit)


def test_camera_samples_are_the_grid_points_and_their_flow():
    rng = np.random.default_rng(3)
    flow = rng.normal(size=(90, 160, 2)).astype(np.float32)
    src, dst = _samples(flow, 8)
    ys, xs = np.mgrid[4:90:8, 4:160:8]
    assert np.array_equal(src, np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32))
    assert np.array_equal(dst, src + flow[ys.ravel(), xs.ravel()])
    assert _samples(flow, 8)[0] is src  # one grid per field size
