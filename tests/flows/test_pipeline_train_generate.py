"""The pipeline's optional last steps: train on what it curated and annotated, then generate from that checkpoint."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from physflow.data_catalog import Catalog
from physflow.flows.pipeline import DEMO_FILTER, PipelineParams, pipeline_flow

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.mark.timeout(600)
def test_pipeline_trains_then_generates_from_its_checkpoint(demo_videos, catalog_root, tmp_path):
    image = tmp_path / "first.png"
    frame = np.full((16, 16, 3), 230, np.uint8)
    cv2.circle(frame, (8, 5), 3, (40, 40, 200), -1)
    cv2.imwrite(str(image), frame)
    params = PipelineParams(
        catalog=str(catalog_root), previews=0,
        curate={"inputs": [str(demo_videos[0].parent)], "filter": DEMO_FILTER},
        train={"recipe": {"recipe": "videojam"}, "data": {"frames": 4, "size": 16},
               "loop": {"steps": 2, "save_every": 2, "batch_size": 2}},
        generate={"prompts": ["a red ball falls"], "image": str(image),
                  "generate": {"frames": 4, "width": 16, "height": 16, "steps": 2,
                               "learned_prior": {"sequences": 4, "steps": 10}, "prior": {"steps": 20}}},
    )
    report = pipeline_flow(params)
    assert [s.step for s in report.steps][-2:] == ["train", "generate"]
    assert all(s.state == "Completed" for s in report.steps)
    cat = Catalog(catalog_root)
    (trained,) = cat.query("SELECT checkpoint_id FROM checkpoints WHERE error IS NULL").column(0).to_pylist()
    used = cat.query("SELECT DISTINCT checkpoint_id FROM generations WHERE error IS NULL").column(0).to_pylist()
    assert used == [trained]
