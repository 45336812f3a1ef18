"""train-physics-prior: the learned prior trained on the catalog's annotations, then used by generation.

The catalog gets annotation tables with known motion, written as the annotation stages write them: detect rows
of thrown balls (boxes per frame, tracks broken into fragments as an overlap tracker breaks small fast
objects) and body_fit rows of walks (SMPL parameters in the camera frame, as the body_fit stage stores them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from physflow.data_catalog import Catalog
from physflow.data_catalog.keys import sha256_text
from physflow.data_catalog.schemas import BODY_FITS, CLIPS, DETECTIONS, TABLES, VIDEOS
from physflow.flows.generate import GenerateParams, generate_flow
from physflow.flows.train_prior import TrainPriorParams, newest_priors, train_prior_flow
from physflow.models.body_model import build_body_model, load_body_model
from physflow.models.physics_prior import load_prior
from physflow.models.smplify import camera_for
from physflow.stages.common.prior.bodies import camera_to_world, rest_joints
from physflow.stages.common.prior.scene import Camera
from physflow.stages.generate.prior import synthetic
from tests.stages.generate import conftest as generate_fixtures

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.timeout(300)]
W, H, FPS, FRAMES = 128, 96, 16.0, 32
PRIOR = {"window": 12, "hop": 4, "steps": 120, "min_sequences": 4}
TINY = {"frames": 8, "width": 32, "height": 32, "steps": 2, "prior": {"steps": 40}}
_one_thread = generate_fixtures._one_thread
first_frame = generate_fixtures.first_frame


def _register(catalog: Catalog, name: str, rows: list[dict]) -> None:
    table = pa.Table.from_pylist(rows, schema=TABLES[name].schema)
    key = sha256_text(f"test {name} " + json.dumps(rows, sort_keys=True, default=str))
    catalog.register(catalog.artifacts.write(stage=f"test_{name}", version=1, key=key, table_name=name,
                                             table=table, shard=key[:32], config={}, inputs=[]))


def _ball_rows(clip_id: str, seed: int) -> list[dict]:
    camera = Camera.for_frame(W, H, metres_high=2.0)
    obj = synthetic.ballistic_objects(FRAMES, FPS, seed)
    px = camera.to_pixels(obj.positions)  # [F, 3, 2]
    r = obj.radius * camera.ppm
    return [{"clip_id": clip_id, "frame": t, "track_id": 100 * i + t // 5, "cls": "sports ball", "score": 0.9,
             "box": [px[t, i, 0] - r[i], px[t, i, 1] - r[i], px[t, i, 0] + r[i], px[t, i, 1] + r[i]],
             "source": "yolo"}
            for t in range(FRAMES) for i in range(obj.positions.shape[1])]


def _walk_rows(clip_id: str, root: np.ndarray, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    world = synthetic.walk_params(FRAMES, FPS, stride=rng.uniform(0.25, 0.5), cadence=rng.uniform(1.2, 2.0))
    world["transl"][:, 1] -= 1.0  # the ground 1 m below the camera
    world["transl"][:, 2] = -4.0
    orient, transl = camera_to_world(world["global_orient"], world["transl"], root)
    return [{"clip_id": clip_id, "track_id": 1, "frame": t, "model": "smpl-procedural", "betas": [0.0] * 10,
             "global_orient": orient[t].tolist(), "body_pose": world["body_pose"][t].ravel().tolist(),
             "transl": transl[t].tolist(), "camera": camera_for(W, H).tolist(), "fit_loss": 1.0, "reproj_px": 1.0}
            for t in range(FRAMES)]


@pytest.fixture()
def annotated(catalog_root: Path, tmp_path: Path) -> Catalog:
    catalog = Catalog(catalog_root)
    model = load_body_model(build_body_model(tmp_path / "SMPL_NEUTRAL.pkl"), "smpl")
    root = rest_joints(model, np.zeros(10))[0]
    clips = [f"v{i}:0-{FRAMES}" for i in range(4)]
    _register(catalog, VIDEOS, [{"video_id": f"v{i}", "uri": f"/videos/v{i}.mp4", "width": W, "height": H,
                                 "fps": FPS, "n_frames": FRAMES} for i in range(4)])
    _register(catalog, CLIPS, [{"clip_id": c, "video_id": c.split(":")[0], "start_frame": 0, "end_frame": FRAMES,
                                "keep": True} for c in clips])
    _register(catalog, DETECTIONS, [row for i, c in enumerate(clips[:3]) for row in _ball_rows(c, i)])
    _register(catalog, BODY_FITS, [row for i, c in enumerate(clips[2:]) for row in _walk_rows(c, root, i)])
    return catalog


def test_priors_train_on_the_catalog_and_generation_uses_them(annotated, catalog_root, first_frame) -> None:
    params = TrainPriorParams(catalog=str(catalog_root), use_weights=False, prior=PRIOR)
    refs = train_prior_flow(params).refs
    rows = {r["kind"]: r for r in Catalog(catalog_root).query("SELECT * FROM physics_priors").to_pylist()}
    assert set(rows) == {"objects", "bodies"} and all(r["error"] is None for r in rows.values())
    objects, bodies = rows["objects"], rows["bodies"]
    # 3 clips x 3 balls, fragments stitched into one track each; 2 walks, windows of 12 frames every 4
    assert (objects["clips"], objects["tracks"], objects["sequences"]) == (3, 9, 9 * 6)
    assert (bodies["clips"], bodies["tracks"], bodies["sequences"]) == (2, 2, 2 * 6)
    assert objects["channels"] == 3 and bodies["channels"] == 75
    for r in rows.values():  # it learned: lower training loss, and it removes jitter from windows it never saw
        assert r["loss_last"] < r["loss_first"] and r["heldout_gain"] > 0.2, r
    again = train_prior_flow(params).refs  # no new annotations: cached, no new prior
    assert [r.key for r in again] == [r.key for r in refs]
    found = newest_priors(Catalog(catalog_root))
    assert {k: v["sha256"] for k, v in found.items()} == {k: r["sha256"] for k, r in rows.items()}
    prior = load_prior(found["objects"]["uri"])
    assert prior.channels == 3

    gen = GenerateParams(prompts=["a ball is thrown"], image=str(first_frame), catalog=str(catalog_root),
                         use_weights=False, generate={**TINY, "learned_prior": {"source": "catalog"}})
    synthetic_gen = GenerateParams.model_validate({**gen.model_dump(), "generate": {
        **TINY, "learned_prior": {"source": "synthetic", "steps": 20, "sequences": 4}}})
    made = generate_flow(gen).refs
    assert made[0].rows == 3
    assert generate_flow(synthetic_gen).refs[0].key != made[0].key  # another prior, another generation


def test_no_annotations_or_no_prior_fail_before_work(catalog_root, first_frame) -> None:
    with pytest.raises(ValueError, match="no detections or body fits"):
        train_prior_flow(TrainPriorParams(catalog=str(catalog_root), use_weights=False))
    gen = GenerateParams(prompts=["x"], image=str(first_frame), catalog=str(catalog_root), use_weights=False,
                         generate={**TINY, "learned_prior": {"source": "catalog"}})
    with pytest.raises(ValueError, match="physflow train-prior"):
        generate_flow(gen)
    assert Catalog(catalog_root).query("SELECT count(*) FROM generations").column(0)[0].as_py() == 0


def test_priors_from_real_clips_annotated_by_the_embedded_stages(real_videos, catalog_root) -> None:
    """Two real clips annotated with the embedded defaults (HOG people, motion blobs; no pose weights): the
    object prior trains on their tracks, the body prior is a row saying why it could not."""
    from physflow.flows.annotate import AnnotateParams, annotate_flow
    from tests.flows.clip_fixtures import register_clips

    register_clips(catalog_root, real_videos)
    annotate_flow(AnnotateParams(catalog=str(catalog_root), use_weights=False, shard_size=2,
                                 sampling={"max_frames": 24, "width": 256}))
    train_prior_flow(TrainPriorParams(catalog=str(catalog_root), use_weights=False,
                                      prior={"window": 8, "hop": 4, "steps": 60, "min_sequences": 4}))
    rows = {r["kind"]: r for r in Catalog(catalog_root).query("SELECT * FROM physics_priors").to_pylist()}
    objects, bodies = rows["objects"], rows["bodies"]
    assert objects["error"] is None and objects["clips"] >= 1 and objects["sequences"] >= 4 and objects["uri"]
    assert bodies["error"].startswith("only 0 bodies windows") and bodies["uri"] is None
