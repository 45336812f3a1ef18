"""detect and pose stages on real clips; the shared annotation helpers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from physflow.data_catalog.keys import cache_key
from physflow.stages.common.annotation import (
    AnnotatedShard,
    ClipRef,
    FrameSampling,
    IouTracker,
    WeightsRef,
    rle_decode,
    rle_encode,
)
from physflow.stages.detect import DetectConfig, DetectStage
from physflow.stages.pose import PoseConfig, PoseStage
from physflow.stages.pose.stage import NO_POSE_MODEL, link_tracks


def _clip(real_videos, name: str, frames: tuple[int, int], size: tuple[int, int]) -> ClipRef:
    (start, end), (width, height) = frames, size
    return ClipRef(f"{name}:{start}-{end}", name, start, end, str(real_videos / name), width, height)


@pytest.mark.timeout(120)
def test_hog_fallback_finds_people_in_juggling_and_basketball(real_videos):
    clips = [_clip(real_videos, "sam2_05_default_juggle.mp4", (0, 80), (1280, 720)),
             _clip(real_videos, "mmaction2_basketball_structuralize.mp4", (0, 80), (426, 240))]
    stage = DetectStage(DetectConfig(sampling=FrameSampling(stride=10, max_frames=8, width=640), fallback="hog+mog2"))
    table = stage.run(clips)
    rows = [r for r in table.to_pylist() if r["error"] is None]
    for clip in clips:
        people = [r for r in rows if r["clip_id"] == clip.clip_id and r["cls"] == "person"]
        assert people, f"HOG found no person in {clip.clip_id}"
        assert all(r["source"] == "hog" for r in people)
        x2, y2 = np.array([r["box"] for r in people])[:, 2:].T
        assert (x2 <= clip.width + 1).all() and (y2 <= clip.height + 1).all()  # boxes in source pixels
    keys = [(r["clip_id"], r["frame"], r["track_id"]) for r in rows]
    assert len(set(keys)) == len(keys)
    assert stage.stats.items == 2 and stage.stats.errors == {}


def test_unreadable_clip_is_an_error_row(real_videos):
    bad = ClipRef("broken:0-10", "broken", 0, 10, str(real_videos / "broken" / "mp4parse_zero_empty_stsc.mp4"), 64, 64)
    table = DetectStage(DetectConfig(sampling=FrameSampling(max_frames=2, width=64))).run([bad])
    assert table.num_rows == 1 and table.column("error")[0].as_py()


def test_pose_without_weights_says_so_per_clip(real_videos):
    clip = _clip(real_videos, "sam2_05_default_juggle.mp4", (0, 10), (1280, 720))
    table = PoseStage(PoseConfig()).run([AnnotatedShard([clip], {"detections": pa.table({"clip_id": ["x"]})})])
    assert table.to_pylist() == [{**dict.fromkeys(table.column_names), "clip_id": clip.clip_id, "error": NO_POSE_MODEL}]


def test_pose_tracks_link_to_detection_tracks():
    box = np.array([10.0, 10.0, 50.0, 100.0])
    people = [(f, 3, box + f, np.zeros((17, 3)), 0.9) for f in range(3)] + [(0, 4, box + 200, np.zeros((17, 3)), 0.8)]
    dets = [{"frame": f, "track_id": 17, "cls": "person", "box": (box + f + 1).tolist()} for f in range(3)]
    dets.append({"frame": 0, "track_id": 18, "cls": "ball", "box": (box + 200).tolist()})
    assert link_tracks(people, dets, 0.3) == {3: 17, 4: 200_004}


def test_rle_round_trip_and_iou_tracker():
    rng = np.random.default_rng(0)
    for shape in [(7, 5), (1, 1), (30, 41)]:
        mask = rng.random(shape) > 0.6
        assert (rle_decode(rle_encode(mask)) == mask).all()
    assert (rle_decode(rle_encode(np.ones((4, 3), bool)))).all()
    tracker = IouTracker(min_iou=0.3)
    a = tracker.update(np.array([[0, 0, 10, 10], [50, 50, 60, 60]]), ["person", "ball"])
    b = tracker.update(np.array([[51, 51, 61, 61], [1, 1, 11, 11]]), ["ball", "person"])
    assert b == [a[1], a[0]]


def test_weights_path_stays_out_of_the_cache_key():
    sha = "ab" * 32
    one = DetectConfig(yolo=WeightsRef(path="/a/yolo.pt", sha256=sha))
    two = DetectConfig(yolo=WeightsRef(path="/elsewhere/yolo.pt", sha256=sha))
    assert cache_key("detect", 1, one, ["k"], [sha]) == cache_key("detect", 1, two, ["k"], [sha])
    assert DetectStage(one).weights_sha256() == [sha]


@pytest.mark.timeout(120)
def test_yolo_seg_checkpoint_gives_masks(real_videos, tmp_path):
    from physflow.data_catalog.keys import file_sha256
    from physflow.models.yolo import prepare_ultralytics

    prepare_ultralytics(tmp_path / "ultralytics")
    import torch
    from ultralytics import YOLO

    path = tmp_path / "yolo-seg.pt"
    torch.manual_seed(0)  # random weights, but the same ones whatever ran before: boxes above conf every run
    YOLO("yolov8n-seg.yaml").save(str(path))  # the real checkpoint format, random weights
    clip = _clip(real_videos, "sam2_05_default_juggle.mp4", (0, 4), (1280, 720))
    config = DetectConfig(sampling=FrameSampling(stride=2, max_frames=2, width=320), imgsz=320, conf=1e-4, max_det=3,
                          yolo=WeightsRef(path=str(path), sha256=file_sha256(path)))
    rows = DetectStage(config).run([clip]).to_pylist()
    assert rows and all(r["error"] is None and r["source"] == "yolo-seg" for r in rows)
    assert {r["frame"] for r in rows} == {0, 2}
    assert all(rle_decode(r["mask_rle"]).shape == (180, 320) for r in rows)
    assert len({(r["frame"], r["track_id"]) for r in rows}) == len(rows)
