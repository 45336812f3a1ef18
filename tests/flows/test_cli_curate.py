"""`physflow curate` as a user runs it: TOML config plus options, a summary of kept and rejected clips."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from physflow.data_catalog import Catalog
from physflow.flows.cli import app

runner = CliRunner()


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.timeout(300)
def test_curate_demo_videos_with_a_config_file(demo_videos, tmp_path):
    config = tmp_path / "curate.toml"
    config.write_text('[analyze]\nwidth = 128\n[filter]\nmin_height = 64\n[export]\nshort_side = 64\n')
    cat = str(tmp_path / "cat")
    args = ["--catalog", cat, "curate", str(demo_videos[0].parent), "--config", str(config), "--min-clip-s", "0.5",
            "--max-clip-s", "1.5", "--min-duration-s", "0.5"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "kept" in result.output and "frames/s" in result.output
    rows = Catalog(cat).query("SELECT keep, clip_uri FROM clips").to_pylist()
    assert any(r["keep"] and r["clip_uri"] for r in rows) and "1 unreadable" in result.output


def test_curate_rejects_a_bad_value_before_work(tmp_path):
    result = runner.invoke(app, ["--catalog", str(tmp_path / "c"), "curate", str(tmp_path), "--width", "5"])
    assert result.exit_code == 2 and "width" in result.output


def test_curate_takes_an_export_preset_and_names_a_bad_one(tmp_path):
    from physflow.flows.cli_curate import _params

    params = _params([str(tmp_path)], str(tmp_path / "c"), None, {"export": {"preset": "veryfast"}}, {})
    assert params.export.preset == "veryfast"
    result = runner.invoke(app, ["--catalog", str(tmp_path / "c"), "curate", str(tmp_path), "--preset", "placebo"])
    assert result.exit_code == 2 and "preset" in result.output and "placebo" in result.output
