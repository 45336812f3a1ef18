import hashlib

import pytest

from physflow.models.registry import SPECS, MissingWeightsError, WeightsRegistry


def test_nothing_configured_means_fallbacks(tmp_path):
    reg = WeightsRegistry.load(None, env={"XDG_DATA_HOME": str(tmp_path)})  # not even the set-up defaults
    assert all(row["state"] == "not configured" for row in reg.status())
    assert reg.get("raft") is None
    with pytest.raises(MissingWeightsError, match=r"raft.*DIS"):
        reg.require("raft")


def test_toml_entries_dir_and_sha_check(tmp_path):
    weights = tmp_path / "w"
    weights.mkdir()
    (weights / "raft.pth").write_bytes(b"state dict bytes")
    sha = hashlib.sha256(b"state dict bytes").hexdigest()
    (tmp_path / "physflow.toml").write_text(
        f'[weights]\ndir = "w"\nyolo-detect = "w/missing.pt"\n[weights.smpl]\npath = "w/raft.pth"\nsha256 = "{"0" * 64}"\n'
    )
    reg = WeightsRegistry.load(tmp_path / "physflow.toml", env={})
    got = reg.require("raft")
    assert got.path == weights / "raft.pth" and got.sha256 == sha
    states = {r["name"]: r["state"] for r in reg.status()}
    assert states["raft"] == "present" and states["yolo-detect"] == "missing" and states["llm"] == "not configured"
    with pytest.raises(MissingWeightsError, match=r"missing\.pt does not exist.*fallback"):
        reg.get("yolo-detect")
    with pytest.raises(MissingWeightsError, match="not the pinned"):
        reg.get("smpl")


def test_env_dir_and_unknown_names(tmp_path):
    (tmp_path / SPECS["llm"].filename).write_bytes(b"gguf")
    reg = WeightsRegistry.load(env={"PHYSFLOW_WEIGHTS_DIR": str(tmp_path)})
    assert reg.get("llm").path == tmp_path / "llm.gguf"
    with pytest.raises(ValueError, match="unknown weights name"):
        WeightsRegistry({"yolov8n": {"path": "x"}})
