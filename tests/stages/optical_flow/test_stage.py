"""The optical-flow stage on real clips: blobs written and readable, statistics, bad clips as rows."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.storage import Root
from physflow.stages.common.flow_encoding import normalised_magnitude, rgb_to_flow
from physflow.stages.common.video_io import iter_frames, write_video
from physflow.stages.optical_flow import FlowClip, OpticalFlowConfig, OpticalFlowStage, spectral
from physflow.stages.optical_flow.flo import read_flow_sequence

PANCAKE = "decord_flipping_a_pancake.mkv"  # 426 x 240, 310 frames, 30 fps


@pytest.fixture(scope="module")
def dis_run(real_videos, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("catalog"))
    clips = [
        FlowClip("pancake:0-12", str(real_videos / PANCAKE), 0, 12, root, 30.0),
        FlowClip("corrupt:20-40", str(real_videos / "broken" / "decord_corrupted.mp4"), 20, 40, root),
        FlowClip("gone:0-10", str(real_videos / "not-there.mp4"), 0, 10, root),
        FlowClip("short:5-6", str(real_videos / PANCAKE), 5, 6, root),
    ]
    stage = OpticalFlowStage(OpticalFlowConfig(width=128, spectral_frames=8, sigma=0.2))
    store = BlobStore(Root(root))
    rows = {r["clip_id"]: store.resolve_row(r) for r in stage.run(clips).to_pylist()}
    return rows, stage, clips


def test_good_clip_row_and_blobs(dis_run):
    rows, _, _ = dis_run
    row = rows["pancake:0-12"]
    assert row["error"] is None
    assert (row["method"], row["variant"], row["width"], row["height"], row["n_pairs"]) == ("dis", "medium", 128, 72, 11)
    for col in ("flow", "flow_rgb", "spectral"):
        data = Path(row[f"{col}_uri"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row[f"{col}_sha256"]
    flows = read_flow_sequence(row["flow_uri"])
    assert flows.shape == (11, 72, 128, 2) and np.isfinite(flows).all()
    mags = np.hypot(flows[..., 0].astype(np.float32), flows[..., 1].astype(np.float32))
    assert row["mag_mean"] == pytest.approx(mags.mean(), rel=1e-3)
    assert row["mag_p90"] == pytest.approx(np.percentile(mags, 90), abs=0.02)
    assert row["mag_mean"] > 0.2, "the pancake clip moves"


def test_flow_rgb_video_decodes_to_the_flow(dis_run):
    rows, _, _ = dis_run
    row = rows["pancake:0-12"]
    frames = [f for _, f in iter_frames(row["flow_rgb_uri"])]
    assert len(frames) == 11 and frames[0].shape == (72, 128, 3)
    flows = read_flow_sequence(row["flow_uri"]).astype(np.float32)
    _, _, m = rgb_to_flow(frames[5])
    expected = normalised_magnitude(flows[5], sigma=0.2)
    assert np.abs(m - expected).mean() < 0.03


def test_spectral_volume_matches_chained_flows(dis_run):
    rows, _, _ = dis_run
    row = rows["pancake:0-12"]
    spectrum, n = spectral.from_bytes(Path(row["spectral_uri"]).read_bytes())
    assert (n, spectrum.shape, row["spectral_k"]) == (8, (5, 72, 128, 2), 5)
    flows = read_flow_sequence(row["flow_uri"]).astype(np.float32)
    chainer = spectral.TrajectoryChainer(72, 128)
    traj = np.stack([chainer.displacement] + [chainer.step(f).copy() for f in flows[:7]])
    rebuilt = spectral.inverse_spectral_volume(spectrum, n)
    scale = np.abs(traj).max()
    assert np.abs(rebuilt - traj).max() < 0.01 * scale + 0.05  # all 5 frequencies of 8 frames kept: exact but float16


def test_bad_clips_are_error_rows(dis_run):
    rows, stage, _ = dis_run
    assert rows["corrupt:20-40"]["error"].startswith("ClipDecodeError: decode failed after")
    assert rows["corrupt:20-40"]["flow_uri"] is None
    assert "No such file" in rows["gone:0-10"]["error"]
    assert "at least 2" in rows["short:5-6"]["error"]
    assert stage.stats.rows_out == 4
    assert stage.stats.errors == {"ClipDecodeError": 1, "FileNotFoundError": 1, "ValueError": 1}


def test_clip_past_the_end_of_the_video_is_an_error_row(real_videos, tmp_path):
    clip = FlowClip("end:300-320", str(real_videos / PANCAKE), 300, 320, str(tmp_path), 30.0)
    row = OpticalFlowStage(OpticalFlowConfig(width=64)).run([clip]).to_pylist()[0]
    assert row["error"] == "ClipDecodeError: clip ended after 10 of 20 frames"


def test_clip_file_is_decoded_whole(real_videos, tmp_path):
    """A normalised clip file (clip_uri) gives the same flow as the same range of its source video."""
    frames = [f for _, f in iter_frames(real_videos / PANCAKE, start=40, end=46, width=128)]
    clip_file = write_video(tmp_path / "clip.mp4", frames, fps=30, crf=0)
    config = OpticalFlowConfig(width=128)
    rows = OpticalFlowStage(config).run([
        FlowClip("file", str(clip_file), 0, 6, str(tmp_path)),
        FlowClip("range", str(real_videos / PANCAKE), 40, 46, str(tmp_path), 30.0),
    ]).to_pylist()
    assert [r["error"] for r in rows] == [None, None]
    store = BlobStore(Root(tmp_path))
    a, b = (read_flow_sequence(store.resolve(r["flow_uri"])).astype(np.float32) for r in rows)
    assert a.shape == b.shape == (5, 72, 128, 2)
    assert np.abs(a - b).mean() < 0.1  # yuv420p re-encoding only
