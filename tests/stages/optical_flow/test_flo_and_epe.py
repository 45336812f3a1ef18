"""`.flo` round trip and DIS end-point error against Middlebury ground truth (../shared/data/real/flow_gt)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from physflow.models.flow_engines import DisFlow
from physflow.stages.optical_flow.flo import (
    FloFormatError,
    FlowSequenceWriter,
    end_point_error,
    read_flo,
    read_flow_sequence,
    write_flo,
)

# Measured EPE (px) at full resolution, 584 x 388: RubberWhale 0.537 / 0.440 / 0.226,
# Dimetrodon 0.361 / 0.285 / 0.156 (ultrafast / fast / medium); regenerate with `python benchmarks/flow.py`.
EPE_BOUND = {"ultrafast": 0.75, "fast": 0.6, "medium": 0.35}


def test_flo_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 5, (7, 11, 2)).astype(np.float32)
    path = write_flo(tmp_path / "f.flo", flow)
    assert path.stat().st_size == 12 + 7 * 11 * 2 * 4
    np.testing.assert_array_equal(read_flo(path), flow)


def test_flo_reader_rejects_bad_files(tmp_path):
    (tmp_path / "short.flo").write_bytes(b"PIEH")
    with pytest.raises(FloFormatError, match="too short"):
        read_flo(tmp_path / "short.flo")
    (tmp_path / "magic.flo").write_bytes(np.array([1.0, 0, 0], "<f4").tobytes())
    with pytest.raises(FloFormatError, match="magic"):
        read_flo(tmp_path / "magic.flo")
    good = write_flo(tmp_path / "cut.flo", np.zeros((4, 4, 2), np.float32))
    good.write_bytes(good.read_bytes()[:-8])
    with pytest.raises(FloFormatError, match="expected"):
        read_flo(good)


def test_flow_sequence_streams_to_npy(tmp_path):
    writer = FlowSequenceWriter(tmp_path / "seq.npy")
    fields = [np.full((6, 8, 2), i, np.float32) for i in range(5)]
    for f in fields:
        writer.write(f)
    seq = read_flow_sequence(writer.close())
    assert seq.shape == (5, 6, 8, 2) and seq.dtype == np.float16
    np.testing.assert_array_equal(seq[3], fields[3])
    assert list(tmp_path.iterdir()) == [tmp_path / "seq.npy"]  # the temporary raw file is gone


def test_epe_ignores_unknown_pixels():
    gt = np.zeros((2, 2, 2), np.float32)
    gt[0, 0] = 1e10
    flow = np.zeros_like(gt)
    flow[0, 0] = 100.0  # wrong only where the truth is unknown
    flow[1, 1] = (3.0, 4.0)
    assert end_point_error(flow, gt) == pytest.approx(5.0 / 3)


def _pair(folder):
    a, b = (cv2.cvtColor(cv2.imread(str(folder / n)), cv2.COLOR_BGR2RGB) for n in ("frame10.png", "frame11.png"))
    return a, b, read_flo(folder / "flow10.flo")


@pytest.mark.parametrize("scene", ["RubberWhale", "Dimetrodon"])
def test_dis_epe_on_middlebury(flow_gt, scene):
    a, b, gt = _pair(flow_gt / scene)
    assert gt.shape == (*a.shape[:2], 2)
    assert (np.abs(gt) > 1e9).any(), "the ground truth marks some pixels unknown"
    zero = end_point_error(np.zeros_like(gt), gt)
    errors = {}
    for preset, bound in EPE_BOUND.items():
        errors[preset] = end_point_error(DisFlow(preset)(a[None], b[None])[0], gt)
        assert errors[preset] < bound, (scene, preset, errors[preset])
        assert errors[preset] < 0.5 * zero
    assert errors["medium"] < errors["ultrafast"]
