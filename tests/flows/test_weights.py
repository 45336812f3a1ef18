"""One weights resolver: configs name their weights fields, flows fill them from the registry, the stage base
hashes them into the cache key; and the base checks declared input columns before any work."""

from __future__ import annotations

import pytest

from physflow.data_catalog.keys import file_sha256
from physflow.flows.weights import resolve_weights
from physflow.models.registry import MissingWeightsError, WeightsRegistry
from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.body_fit import BodyFitConfig, BodyFitStage
from physflow.stages.common.annotation import WeightsRef
from physflow.stages.optical_flow import OpticalFlowConfig, OpticalFlowStage
from physflow.stages.physics_context import PhysicsContextConfig


def test_required_weights_fail_naming_the_entry():
    with pytest.raises(MissingWeightsError, match="'raft' are not configured"):
        resolve_weights(OpticalFlowConfig(method="raft"), WeightsRegistry())
    with pytest.raises(MissingWeightsError, match="'llm' are not configured"):
        resolve_weights(PhysicsContextConfig(backend="local"), WeightsRegistry())
    assert resolve_weights(OpticalFlowConfig(), WeightsRegistry()) == OpticalFlowConfig()  # dis needs none


def test_registered_files_fill_the_fields_and_key(tmp_path):
    raft, body = tmp_path / "raft.pth", tmp_path / "SMPL_NEUTRAL.pkl"
    raft.write_bytes(b"raft state dict bytes")
    body.write_bytes(b"smpl model bytes")
    registry = WeightsRegistry({"raft": {"path": str(raft)}, "smpl": {"path": str(body)}})
    flow = resolve_weights(OpticalFlowConfig(method="raft"), registry)
    assert flow.raft_weights == str(raft)
    assert OpticalFlowStage(flow).weights_sha256() == [file_sha256(raft)]
    fit = resolve_weights(BodyFitConfig(), registry)
    assert fit.body_model == WeightsRef(path=str(body), sha256=file_sha256(body))
    assert BodyFitStage(fit).weights_sha256() == [file_sha256(body)]
    # weights off: optional fields stay empty (the procedural body), the registry is not read
    assert resolve_weights(BodyFitConfig(), None, use_weights=False).body_model is None
    assert BodyFitStage(BodyFitConfig()).weights_sha256() == []


def test_a_missing_input_column_fails_before_work():
    rows = [{"video_id": "v", "uri": "/nowhere.mp4", "width": 64, "height": 48, "error": None}]  # no fps
    with pytest.raises(ValueError, match=r"analyze: input lacks column\(s\) fps"):
        AnalyzeStage(AnalyzeConfig()).run(rows)
