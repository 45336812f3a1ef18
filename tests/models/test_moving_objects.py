"""Moving objects from camera-compensated flow: one ball is one track, under a still and a panning camera;
the detect stage's default without YOLO weights."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from physflow.models.moving_objects import MOVING, MovingObjectTracker
from physflow.models.tracker import box_iou
from physflow.stages.common.annotation import ClipRef, FrameSampling, rle_decode
from physflow.stages.common.video_io import write_video
from physflow.stages.detect import DetectConfig, DetectStage
from physflow.stages.synth import SynthConfig, simulate
from physflow.stages.synth.render import object_mask, render_frames

CFG = SynthConfig(n_frames=12)


def _scene_frames(pan_px: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A projectile's frames seen by a camera panning `pan_px` per frame, and the true box per frame."""
    scene = simulate("projectile", 200, CFG)
    frames, boxes = [], []
    for t, f in enumerate(render_frames(scene)):
        m = np.float32([[1, 0, -pan_px * t], [0, 1, 0]])
        frames.append(cv2.warpAffine(f, m, f.shape[1::-1], borderMode=cv2.BORDER_REFLECT))
        ys, xs = np.nonzero(object_mask(scene.objects[0], t, scene.height, scene.width))
        boxes.append(np.array([xs.min() - pan_px * t, ys.min(), xs.max() + 1 - pan_px * t, ys.max() + 1]))
    return frames, boxes


@pytest.mark.parametrize("pan_px", [0.0, 2.0])
def test_one_ball_is_one_track(pan_px):
    frames, truth = _scene_frames(pan_px)
    found = MovingObjectTracker()(frames)
    hits = [o.track_id for objs, box in zip(found, truth, strict=True) for o in objs
            if box_iou(o.box[None], box[None])[0, 0] >= 0.5]
    assert len(hits) >= 0.75 * len(frames)  # the ball found at IoU 0.5 in most frames
    assert len(set(hits)) == 1  # and always as the same track
    assert sum(len(objs) for objs in found) <= len(hits) + 2  # nearly nothing else (the camera's motion is removed)


@pytest.mark.timeout(120)
def test_detect_default_is_the_flow_tracker(tmp_path):
    frames, truth = _scene_frames(2.0)
    path = write_video(tmp_path / "ball.mp4", frames, CFG.fps, crf=CFG.crf)
    clip = ClipRef("ball:0-12", "ball", 0, 12, str(path), CFG.width, CFG.height)
    rows = DetectStage(DetectConfig(sampling=FrameSampling(width=CFG.width))).run([clip]).to_pylist()
    assert rows and all(r["error"] is None and r["cls"] == MOVING and r["source"] == "flow" for r in rows)
    best = max({r["track_id"] for r in rows}, key=lambda tid: sum(r["track_id"] == tid for r in rows))
    ball = [r for r in rows if r["track_id"] == best]
    assert len(ball) >= 8
    assert rle_decode(ball[0]["mask_rle"]).shape == (CFG.height, CFG.width)
    ious = [box_iou(np.array(r["box"])[None], truth[r["frame"]][None])[0, 0] for r in ball]
    assert np.median(ious) >= 0.5
