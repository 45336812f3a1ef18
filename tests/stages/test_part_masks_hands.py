"""Hands in part_masks: the landmarks' convex hull (no fit) and the fitted SMPL-X fingers become the left / right
hand labels, trimmed by the person mask, and show on the contact sheet."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pyarrow as pa

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.storage import Root
from physflow.stages.common.annotation import AnnotatedShard, ClipRef, FrameSampling, rle_encode
from physflow.stages.common.video_io import write_video
from physflow.stages.part_masks import PartMasksConfig, PartMasksStage
from physflow.stages.part_masks.hands import LEFT_HAND, RIGHT_HAND, joint_labels

W, H = 320, 240


def _hand(cx: float, cy: float, presence: float = 0.9) -> list[list[float]]:
    """21 landmarks spread over a 40 x 40 px hand centred at (cx, cy)."""
    ang = np.linspace(0, 2 * np.pi, 21, endpoint=False)
    r = np.where(np.arange(21) % 2 == 0, 20.0, 12.0)
    return [[cx + ri * np.cos(a), cy + ri * np.sin(a), presence] for a, ri in zip(ang, r, strict=True)]


def _maps(rows: pa.Table, root: str) -> dict[int, np.ndarray]:
    blobs = BlobStore(Root(root))
    return {r["frame"]: cv2.imdecode(np.frombuffer(blobs.read_bytes(r["mask_uri"]), np.uint8), cv2.IMREAD_UNCHANGED)
            for r in rows.to_pylist()}


def test_smplx_fingers_fold_into_hand_labels():
    labels = joint_labels(55)
    assert set(labels[25:40]) == {LEFT_HAND} and set(labels[40:55]) == {RIGHT_HAND}
    assert list(joint_labels(24)) == list(range(1, 25))


def test_hand_hulls_without_a_fit_trimmed_by_the_person_mask(tmp_path):
    video = tmp_path / "clip.mp4"
    write_video(video, [np.full((H, W, 3), 90, np.uint8)] * 2, 10.0)
    clip = ClipRef("c:0-2", "c", 0, 2, str(video), W, H)
    person = np.zeros((H, W), bool)
    person[:, :200] = True  # the person mask ends at x = 200: the right hand's hull (x 190..230) is cut there
    poses = pa.Table.from_pylist([
        {"clip_id": clip.clip_id, "frame": f, "track_id": 1, "keypoints": [[0.0, 0.0, 0.0]] * 17,
         "format": "coco17", "score": 0.9, "mask_rle": rle_encode(person),
         "left_hand": _hand(80, 120), "right_hand": _hand(210, 120),
         "right_hand_world": None} for f in range(2)])
    config = PartMasksConfig(sampling=FrameSampling(stride=1, max_frames=2, width=W), sheet_frames=2)
    out = PartMasksStage(config).run([AnnotatedShard([clip], {"poses": poses}, blob_root=str(tmp_path))])
    assert out.column("error").null_count == 2
    label_map = _maps(out, str(tmp_path))[0]
    left, right = label_map == LEFT_HAND, label_map == RIGHT_HAND
    assert 700 < left.sum() < 1600  # a ~40 px wide hull
    assert right[:, :200].any() and not right[:, 204:].any()  # trimmed at the person mask (grown 3 px)
    assert json.loads(out.column("labels")[0].as_py()) == {str(LEFT_HAND): "left_hand", str(RIGHT_HAND): "right_hand"}
    sheet = cv2.imdecode(np.frombuffer(BlobStore(Root(str(tmp_path))).read_bytes(out.column("preview_uri")[0].as_py()),
                                       np.uint8), cv2.IMREAD_COLOR)
    assert sheet is not None and sheet.shape[1] == 2 * W
    hand_px = sheet[110:130, 70:90].reshape(-1, 3).astype(int)  # BGR: the left hand's colour (255, 200, 0) blended
    assert (hand_px[:, 0] < hand_px[:, 2] - 40).all()
