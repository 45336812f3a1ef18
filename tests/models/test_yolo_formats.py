"""A registered YOLO checkpoint saved by the YOLOv5 repository (it pickles that repository's `models.yolo`
classes) fails before work with an error naming the file and the supported formats, not an AttributeError."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from physflow.models.registry import WeightsRegistry
from physflow.models.yolo import UnsupportedCheckpointError, load_yolo, pickled_modules


@pytest.fixture
def yolov5_checkpoint(tmp_path):
    """A .pt in the YOLOv5 repository's layout: {"model": models.yolo.Model(...)}, saved in a separate process
    from a throwaway `models` package so that nothing of it stays importable here."""
    repo = tmp_path / "yolov5"
    (repo / "models").mkdir(parents=True)
    (repo / "models" / "__init__.py").write_text("")
    (repo / "models" / "yolo.py").write_text(textwrap.dedent("""
        import torch

        class Model(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = torch.nn.Conv2d(3, 4, 3)
    """))
    out = tmp_path / "yolov5n.pt"
    script = f"import torch; from models.yolo import Model; torch.save({{'model': Model(), 'epoch': -1}}, {str(out)!r})"
    subprocess.run([sys.executable, "-c", script], cwd=repo, check=True, timeout=120)
    return out


def test_yolov5_repository_checkpoint_is_named(yolov5_checkpoint):
    assert "models.yolo" in pickled_modules(yolov5_checkpoint)
    with pytest.raises(UnsupportedCheckpointError, match=r"yolov5n\.pt is a checkpoint of the YOLOv5 repository.*Supported"):
        load_yolo(yolov5_checkpoint)


def test_registry_refuses_it_before_work(yolov5_checkpoint):
    registry = WeightsRegistry({"yolo-detect": {"path": str(yolov5_checkpoint)}})
    with pytest.raises(UnsupportedCheckpointError, match="ultralytics checkpoint"):
        registry.get("yolo-detect")


def test_ultralytics_checkpoint_passes_the_check(tmp_path):
    pytest.importorskip("ultralytics")
    from physflow.models.yolo import check_ultralytics_checkpoint, prepare_ultralytics

    prepare_ultralytics()
    from ultralytics import YOLO

    path = tmp_path / "tiny.pt"
    model = YOLO("yolov8n.yaml")
    model.save(str(path))
    assert any(m.startswith("ultralytics") for m in pickled_modules(path))
    check_ultralytics_checkpoint(path)  # no error
