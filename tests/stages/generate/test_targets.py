"""A target pose (or sketch) for the final frame: read, drawn as body-part labels, passed to phase 1."""

from __future__ import annotations

import json

import numpy as np
import pytest

from physflow.stages.common.annotation import OBJECT_BASE
from physflow.stages.generate.config import GenerateConfig
from physflow.stages.generate.stage import GenerateItem, GenerateStage, generation_id
from physflow.stages.generate.targets import COCO17, load_target_pose, pose_label_map, sketch_labels

pytestmark = pytest.mark.timeout(300)
LEFT_KNEE_PART, HEAD_PART = 5, 16  # SMPL left_knee (4) + 1 wraps the shin; head (15) + 1


def _standing(cx: float = 24.0) -> np.ndarray:
    """COCO-17 keypoints of a person standing in a 48 x 48 image."""
    y = {"nose": 6, "left_eye": 5, "right_eye": 5, "left_ear": 6, "right_ear": 6, "left_shoulder": 12,
         "right_shoulder": 12, "left_elbow": 19, "right_elbow": 19, "left_wrist": 25, "right_wrist": 25,
         "left_hip": 26, "right_hip": 26, "left_knee": 35, "right_knee": 35, "left_ankle": 44, "right_ankle": 44}
    dx = {"left": 4, "right": -4}
    return np.array([[cx + dx.get(n.split("_")[0], 0), y[n], 0.9] for n in COCO17])


def test_pose_file_is_read_or_refused_naming_the_problem(tmp_path) -> None:
    good = tmp_path / "pose.json"
    good.write_text(json.dumps({"keypoints": _standing()[:, :2].tolist()}))
    pose = load_target_pose(good)
    assert pose.shape == (17, 3) and (pose[:, 2] == 1).all()
    short = tmp_path / "short.json"
    short.write_text(json.dumps([[1, 2, 0.5]] * 5))
    with pytest.raises(ValueError, match=r"17 COCO keypoints.*\(5, 3\)"):
        load_target_pose(short)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable JSON"):
        load_target_pose(broken)


def test_pose_is_drawn_with_body_part_labels() -> None:
    kps = _standing()
    labels = pose_label_map(kps, 48, 48)
    knee, ankle = kps[COCO17.index("left_knee"), :2], kps[COCO17.index("left_ankle"), :2]
    mid = np.round((knee + ankle) / 2).astype(int)
    assert labels[mid[1], mid[0]] == LEFT_KNEE_PART
    assert labels[6, 24] == HEAD_PART
    assert set(np.unique(labels)) <= set(range(0, 25))
    kps[COCO17.index("left_ankle"), 2] = 0.0  # a keypoint not given: its bone is not drawn
    assert LEFT_KNEE_PART not in np.unique(pose_label_map(kps, 48, 48))
    drawing = np.zeros((48, 48, 3), np.uint8)
    drawing[:4, :4] = 255
    both = sketch_labels(drawing, _standing(), 48, 48)
    assert both[0, 0] == OBJECT_BASE and both[mid[1], mid[0]] == LEFT_KNEE_PART


def test_target_pose_reaches_the_final_frame_of_phase_one(first_frame, tmp_path) -> None:
    path = tmp_path / "pose.json"
    path.write_text(json.dumps({"keypoints": _standing().tolist()}))
    config = GenerateConfig(frames=4, width=32, height=32, steps=1, prior={"steps": 20},
                            learned_prior={"enabled": False}, annotation={"enabled": False})
    stage = GenerateStage(config)
    plain = GenerateItem("a person jumps", str(first_frame), "ab" * 32, str(tmp_path / "cat"))
    posed = GenerateItem("a person jumps", str(first_frame), "ab" * 32, str(tmp_path / "cat"), pose_path=str(path))
    assert generation_id(plain, config) != generation_id(posed, config)
    rows = stage.run([posed]).to_pylist()
    assert [r["stage"] for r in rows] == ["coarse", "prior", "refined"] and rows[0]["error"] is None
    cond = stage._pipeline(None)._sketch_condition(sketch_labels(None, load_target_pose(path), 48, 48))
    final, earlier = cond.labels[0, -1].numpy(), cond.labels[0, :-1].numpy()
    assert {LEFT_KNEE_PART, HEAD_PART} <= set(np.unique(final)) and not earlier.any()
    assert cond.confidence[0, -1] == config.sketch_confidence and not cond.confidence[0, :-1].any()
