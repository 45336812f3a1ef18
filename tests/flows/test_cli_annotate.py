"""`physflow annotate` on embedded defaults and `physflow weights make-body-model`."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from physflow.data_catalog import Catalog
from physflow.flows.cli import app
from tests.flows.clip_fixtures import register_clips

runner = CliRunner()


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.timeout(300)
def test_annotate_command_on_fallbacks(real_videos, catalog_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no physflow.toml here
    monkeypatch.delenv("PHYSFLOW_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "no-default-weights"))  # not even the set-up's defaults
    register_clips(catalog_root, real_videos)
    result = runner.invoke(app, ["--catalog", str(catalog_root), "annotate", "--stride", "8", "--max-frames", "3",
                                 "--width", "320", "--shard-size", "1"])
    assert result.exit_code == 0, result.output
    for stage in ("detect", "pose", "body_fit", "part_masks"):
        assert stage in result.output
    catalog = Catalog(catalog_root)
    assert {r["source"] for r in catalog.query("SELECT source FROM detections WHERE error IS NULL").to_pylist()} <= {
        "flow"}  # moving objects from camera-compensated flow; people come from the pose stage
    poses = catalog.query("SELECT error FROM poses").to_pylist()
    assert len(poses) == 2 and all(p["error"].startswith("no pose model configured") for p in poses)
    masks = catalog.query("SELECT frame, confidence, preview_uri FROM part_masks WHERE error IS NULL").to_pylist()
    assert len(masks) == 6 and all(m["preview_uri"] for m in masks)


def test_weights_make_body_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "w" / "SMPL_NEUTRAL.pkl"
    result = runner.invoke(app, ["weights", "make-body-model", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "24 joints" in result.output
    (tmp_path / "physflow.toml").write_text(f'[weights]\nsmpl = "{out}"\n')
    listing = runner.invoke(app, ["weights"])
    assert listing.exit_code == 0 and "present" in listing.output
