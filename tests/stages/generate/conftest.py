"""Fixtures of the generate tests: one torch thread (tiny models on a shared machine), a first-frame image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def first_frame(tmp_path: Path) -> Path:
    """A 48 x 48 PNG: a red ball over a grey floor."""
    image = np.full((48, 48, 3), 200, np.uint8)
    image[40:] = (90, 70, 50)
    cv2.circle(image, (14, 12), 5, (220, 30, 30), -1)
    path = tmp_path / "first.png"
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path
