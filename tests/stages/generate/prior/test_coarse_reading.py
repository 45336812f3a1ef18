"""Phase 2 reads the coarse video with the annotation stages: body fits become optimised bodies drawn as part
masks, detect tracks become objects.

The body test starts from a known walk (stages/generate/prior/synthetic.py) seen by a level camera 4 m away:
its COCO-17 keypoints, corrupted by pixel jitter and by frames where the whole body sits too low, go through
the real body_fit stage; phase 2 must then return a body that jitters less, keeps its joints within their
limits, does not sink into the ground and stays as close to the truth as the fits were, drawn where the
true body projects.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from physflow.data_catalog.schemas import DETECTIONS, table_spec
from physflow.stages.body_fit import BodyFitConfig, BodyFitStage
from physflow.stages.common.annotation import AnnotatedShard, ClipRef
from physflow.stages.common.prior.bodies import world_to_pixels
from physflow.stages.common.prior.scene import OBJECT_BASE, Camera, object_masks
from physflow.stages.generate.prior import synthetic
from physflow.stages.generate.prior.coarse import CoarseAnnotations, CoarseAnnotator
from physflow.stages.generate.prior.config import CoarseAnnotationConfig, ExtractConfig, PriorConfig
from physflow.stages.generate.prior.phase import prior_phase

pytestmark = pytest.mark.timeout(240)
W, H, FPS, FRAMES = 320, 240, 12.0, 16
HEAD = 15


def _empty_detections() -> pa.Table:
    return table_spec(DETECTIONS).empty()


@pytest.fixture(scope="module")
def walk():
    """The body_fit stage (embedded procedural SMPL) and a walk it sees: truth and noisy keypoints."""
    torch.set_num_threads(1)
    stage = BodyFitStage(BodyFitConfig(iters_camera=40, iters_full=120))
    stage.setup()
    seen = synthetic.seen_walk(stage.model, FRAMES, FPS, W, H, shifted=(4, 11))
    return stage, seen.joints, seen.keypoints, seen.camera


def test_body_fits_become_optimised_bodies_in_the_masks(walk) -> None:
    stage, truth, kps, cam = walk
    clip = ClipRef("coarse", "coarse", 0, FRAMES, "/nonexistent/coarse.mp4", W, H)
    poses = pa.Table.from_pylist([{"clip_id": "coarse", "frame": t, "track_id": 3, "keypoints": kps[t].tolist(),
                                   "format": "coco17", "score": 0.9} for t in range(FRAMES)])
    fits = stage.run([AnnotatedShard([clip], {"poses": poses})])
    assert fits.num_rows == FRAMES and fits.column("error").null_count == FRAMES
    annotations = CoarseAnnotations(_empty_detections(), poses, fits, stage.model)
    frames = np.full((FRAMES, H, W, 3), 120, np.uint8)  # nothing else moves
    out = prior_phase(frames, "a man walks", PriorConfig(fps=FPS), ExtractConfig(), annotations=annotations)
    m = out.measures
    assert m["people"] == 1 and m["objects"] == 0 and out.confidence == 1.0
    body = out.bodies[0]
    # physics: no more penetration, less jitter, joints within limits, no further from the truth than the fits
    assert m["optimised_body_penetration_m"] <= m["extracted_body_penetration_m"] and m["optimised_body_penetration_m"] < 1e-3
    assert m["optimised_body_jitter_m_s3"] < 0.85 * m["extracted_body_jitter_m_s3"]
    assert m["optimised_body_joint_limit_rad"] < 0.2 * m["extracted_body_joint_limit_rad"]
    err_fit = np.linalg.norm(body.fitted - truth, axis=-1).mean()
    err_opt = np.linalg.norm(body.result.positions - truth, axis=-1).mean()
    print(f"MPJPE to truth: fits {err_fit:.3f} m, optimised {err_opt:.3f} m")
    assert err_opt < 1.05 * err_fit and err_opt < 0.35
    # masks: body part labels (1..24), the head drawn where the true head projects
    assert set(np.unique(out.labels)) - {0} <= set(range(1, 25)) and out.n_parts <= 24
    true_head = world_to_pixels(truth[:, HEAD], cam)  # [F, 2]
    for t in (0, FRAMES // 2, FRAMES - 1):
        ys, xs = np.nonzero(out.labels[t] == HEAD + 1)
        assert len(xs), f"no head drawn in frame {t}"
        assert np.hypot(xs.mean() - true_head[t, 0], ys.mean() - true_head[t, 1]) < 15


def test_annotation_stages_read_the_coarse_video_and_give_the_objects() -> None:
    """A rendered coarse video of a ball thrown across a grey frame: the real detect stage (no weights: motion
    blobs) tracks it, and phase 2 takes its objects from those tracks."""
    torch.set_num_threads(1)
    w, h, frames = 128, 96, 16
    camera = Camera.for_frame(w, h, metres_high=3.0)
    obj = synthetic.ballistic_objects(frames, 16.0, 0)
    pos = obj.positions[:, :1].copy()
    pos[..., 0] += -1.5 - pos[0, 0, 0]
    pos[..., 2] = 0.0
    labels = object_masks(pos, np.array([0.2]), camera, first_label=OBJECT_BASE)
    video = np.where(labels[..., None] > 0, np.array([220, 40, 40], np.uint8), np.uint8(128)).astype(np.uint8)
    # MOG2 motion blobs: on a 16-frame 128x96 video the flow-based default follows this ball up to ~24 px off
    # (noted as an open problem); this test is about phase 2 taking its objects from the detect stage's tracks
    reading = CoarseAnnotationConfig(detect={"fallback": "hog+mog2"})
    annotations = CoarseAnnotator(reading)(video, 16.0)
    summary = annotations.summary()
    assert summary["detections_rows"] > 0, summary
    assert summary["poses_errors"] == {"no pose model configured": 1}  # no pose weights here: said, not hidden
    out = prior_phase(video, "a ball is thrown", PriorConfig(fps=16.0), ExtractConfig(metres_high=3.0),
                      annotations=annotations, reading=reading)
    assert out.measures["objects_from"] == "detect" and out.measures["objects"] >= 1
    assert out.measures["people"] == 0
    seen = out.result is not None and camera.to_pixels(out.result.positions)[:, 0]  # [F, 2]
    truth = camera.to_pixels(pos)[:, 0]
    late = slice(4, frames)  # the motion-blob detector needs a few frames of background first
    assert np.abs(seen[late] - truth[late]).max() < 8.0



def test_phase_two_on_a_real_video(real_videos) -> None:
    """A real clip (juggling) as the coarse video: the stages run on it, its objects come from the detect
    stage's tracks and are drawn as object labels, and without pose weights no body is made (the reason is
    reported)."""
    from physflow.stages.common.video_io import iter_frames

    torch.set_num_threads(1)
    frames = np.stack([f for _, f in iter_frames(real_videos / "sam2_05_default_juggle.mp4", end=24, width=256)])
    annotations = CoarseAnnotator(CoarseAnnotationConfig())(frames, 25.0)
    out = prior_phase(frames, "a man juggles balls", PriorConfig(fps=25.0), ExtractConfig(), annotations=annotations)
    m = out.measures
    assert m["detections_rows"] > 0 and m["poses_errors"] == {"no pose model configured": 1}
    assert m["people"] == 0 and m["objects_from"] == "detect" and 1 <= m["objects"] <= ExtractConfig().max_objects
    assert out.labels.shape == frames.shape[:3] and set(np.unique(out.labels)) - {0} <= set(range(64, 64 + m["objects"]))
    assert m["optimised_penetration_m"] <= m.get("extracted_penetration_m", 0.0) + 1e-6
