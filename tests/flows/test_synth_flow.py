"""`physflow synth`: clips, truth, videos and physics metrics in the catalog; a warm re-run is all Cached."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from physflow.data_catalog import Catalog
from physflow.flows.cli import app
from physflow.flows.synth import SynthParams, synth_flow
from physflow.stages.common import video_io

runner = CliRunner()
SMALL = {"width": 128, "height": 96, "n_frames": 24}


def test_synth_command_is_registered_and_rejects_bad_values(tmp_path):
    result = runner.invoke(app, ["synth", "--help"])
    assert result.exit_code == 0 and "--seed" in result.output
    result = runner.invoke(app, ["--catalog", str(tmp_path / "c"), "synth", "--n", "2", "--scenes", "free_fall,nope"])
    assert result.exit_code == 2 and "unknown scene kinds ['nope']" in result.output
    assert not (tmp_path / "c" / "blobs").exists(), "a bad run must fail before any work"


@pytest.mark.usefixtures("prefect_api")
def test_synth_flow_fills_tables_and_warm_run_is_cached(catalog_root):
    params = SynthParams(n=3, seed=5, scenes=["free_fall", "collision2_elastic", "sliding"], catalog=str(catalog_root),
                         synth=SMALL)
    cold = synth_flow(params)
    assert {r.stage for r in cold} == {"synth", "synth_truth", "ingest", "physics_metrics"}
    cat = Catalog(catalog_root)
    clips = cat.query("SELECT scene, caption, error FROM synth_clips ORDER BY index").to_pylist()
    assert [c["scene"] for c in clips] == ["free_fall", "collision2_elastic", "sliding"]
    assert all(c["error"] is None and c["caption"] for c in clips)
    n_obj = cat.query("SELECT count(*) AS n FROM synth_objects").to_pylist()[0]["n"]
    assert n_obj == 24 * 4
    videos = cat.query("SELECT codec, n_frames FROM videos").to_pylist()
    assert videos == [{"codec": "h264", "n_frames": 24}] * 3
    m = cat.query("SELECT c.scene, m.gravity_rel_err, m.momentum_change, m.violations FROM physics_metrics m "
                  "JOIN synth_clips c USING (clip_id) ORDER BY c.index").to_pylist()
    assert m[0]["gravity_rel_err"] < 0.02 and m[1]["momentum_change"] < 0.05
    assert all(r["violations"] == [] for r in m)
    opened = video_io.OPEN_COUNT
    warm = synth_flow(params)
    assert [r.key for r in warm] == [r.key for r in cold]
    assert video_io.OPEN_COUNT == opened, "a warm run must not decode any video"
