"""generate-video through Prefect and `physflow generate`, on a tiny random checkpoint."""

from __future__ import annotations

import json

import pytest
from prefect.client.schemas.filters import ArtifactFilterKey
from pydantic import ValidationError
from typer.testing import CliRunner

from physflow.data_catalog import Catalog
from physflow.flows.cli import app
from physflow.flows.generate import SUMMARY_KEY, GenerateParams, generate_flow
from physflow.models.registry import MissingWeightsError
from tests.flows.test_pipeline import _artifacts
from tests.stages.generate import conftest as generate_fixtures

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.timeout(300)]

TINY = {"frames": 8, "width": 32, "height": 32, "steps": 2, "learned_prior": {"sequences": 4, "steps": 20},
        "prior": {"steps": 60}}


# One torch thread and the first-frame image, as in the stage tests.
_one_thread = generate_fixtures._one_thread
first_frame = generate_fixtures.first_frame


def test_flow_generates_a_batch_and_caches(first_frame, catalog_root) -> None:
    params = GenerateParams(prompts=["a ball falls", "a ball is thrown fast"], image=str(first_frame),
                            catalog=str(catalog_root), seed=3, generate=TINY)
    refs = generate_flow(params).refs
    assert len(refs) == 2 and sum(r.rows for r in refs) == 6
    table = Catalog(catalog_root).query("SELECT * FROM generations ORDER BY seed, phase").to_pylist()
    assert [(r["seed"], r["stage"]) for r in table] == [
        (3, "coarse"), (3, "prior"), (3, "refined"), (4, "coarse"), (4, "prior"), (4, "refined")]
    assert all(r["error"] is None and json.loads(r["metrics"]) for r in table)
    again = generate_flow(params).refs  # same request, same config: the cached artifacts, no new work
    assert [r.key for r in again] == [r.key for r in refs]
    (summary, *_) = _artifacts(key=ArtifactFilterKey(any_=[SUMMARY_KEY]))  # the newest: the cached run's
    assert summary["type"] == "markdown" and "| coarse |" in summary["data"] and "| refined |" in summary["data"]
    assert all(r["video_uri"] in summary["data"] for r in table)  # the views' resolved locations


def test_bad_params_fail_before_work(tmp_path, first_frame) -> None:
    params = GenerateParams(prompts=["x"], image=str(first_frame), catalog=str(tmp_path / "cat"),
                            generate={"checkpoint": "revision-abc:7"})
    with pytest.raises(ValueError, match="no checkpoint 'revision-abc:7'"):
        generate_flow(params)
    assert Catalog(tmp_path / "cat").query("SELECT count(*) FROM generations").column(0)[0].as_py() == 0
    with pytest.raises(ValidationError, match="not a readable image"):
        GenerateParams(prompts=["x"], image=str(tmp_path / "missing.png"))
    with pytest.raises(ValidationError, match="empty"):
        GenerateParams(prompts=[" "], image=str(tmp_path / "missing.png"))
    bad_pose = tmp_path / "pose.json"
    bad_pose.write_text("[[1, 2]]")
    with pytest.raises(ValidationError, match="17 COCO keypoints"):
        GenerateParams(prompts=["x"], image=str(first_frame), pose=str(bad_pose))


def test_cli_generate(first_frame, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    cat = str(tmp_path / "cat")
    result = CliRunner().invoke(app, [
        "--catalog", cat, "generate", "--prompt", "a ball bounces", "--image", str(first_frame),
        "--checkpoint", "tiny-videojam", "--frames", "8", "--width", "32", "--height", "32", "--steps", "2"])
    assert result.exit_code == 0, result.output
    assert "refined" in result.output and "coarse" in result.output
    rows = Catalog(cat).query("SELECT stage, video_uri FROM generations ORDER BY phase").to_pylist()
    assert [r["stage"] for r in rows] == ["coarse", "prior", "refined"]
    bad = CliRunner().invoke(app, ["--catalog", cat, "generate", "--prompt", "x", "--image", "nope.png"])
    assert bad.exit_code == 2 and "not a readable image" in bad.output


def test_phase_two_uses_the_registered_annotation_weights(first_frame, catalog_root, tmp_path, monkeypatch) -> None:
    """Weights named in physflow.toml reach phase 2's detect, pose and body_fit stages (ultralytics models saved
    from their yaml, random weights: a tiny threshold still gives boxes and keypoints), enter the generation's
    identity, and a missing file fails before any work."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # the set-up's BlazePose files would win `auto`
    folder = _weights_dir(tmp_path)
    toml = tmp_path / "physflow.toml"
    toml.write_text(f'[weights]\nyolo-detect = "{folder / "yolo-detect.pt"}"\n'
                    f'yolo-pose = "{folder / "yolo-pose.pt"}"\nsmpl = "{folder / "SMPL_NEUTRAL.pkl"}"\n')
    reading = {"detect": {"conf": 1e-4, "imgsz": 320, "max_det": 3}, "pose": {"conf": 1e-4, "imgsz": 320, "max_det": 2},
               "body_fit": {"iters_camera": 5, "iters_full": 10, "min_conf": 0.0}}
    config = {**TINY, "annotation": reading}
    with_weights = GenerateParams(prompts=["a man throws a ball"], image=str(first_frame), catalog=str(catalog_root),
                                  weights_config=str(toml), generate=config)
    refs = generate_flow(with_weights).refs
    rows = Catalog(catalog_root).query("SELECT generation_id, stage, metrics FROM generations ORDER BY phase").to_pylist()
    measures = json.loads(rows[1]["metrics"])
    assert rows[1]["stage"] == "prior" and measures["detections_rows"] > 0 and measures["poses_rows"] > 0
    assert measures["body_fits_rows"] > 0 and "people" in measures
    plain = GenerateParams(prompts=["a man throws a ball"], image=str(first_frame), catalog=str(catalog_root),
                           weights_config=str(toml), use_weights=False, generate=config)
    assert generate_flow(plain).refs[0].key != refs[0].key  # other weights, another generation
    toml.write_text('[weights]\nyolo-pose = "nowhere/pose.pt"\n')
    with pytest.raises(MissingWeightsError, match=r"pose\.pt does not exist"):
        generate_flow(with_weights)


def _weights_dir(tmp_path):
    from ultralytics import YOLO

    from physflow.models.body_model import build_body_model
    from physflow.models.yolo import prepare_ultralytics

    folder = tmp_path / "weights"
    prepare_ultralytics(folder / "ultralytics-config")
    YOLO("yolov8n.yaml").save(str(folder / "yolo-detect.pt"))
    YOLO("yolov8n-pose.yaml").save(str(folder / "yolo-pose.pt"))
    build_body_model(folder / "SMPL_NEUTRAL.pkl")
    return folder
