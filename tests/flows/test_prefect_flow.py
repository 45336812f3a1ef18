"""physflow's flows store their parameters as Prefect's FastAPI encoder would, without importing FastAPI
(flows/prefect_flow.py): the same document for every flow's parameter model, also after `with_options`, and the
parameters a real flow run stored on the API are those."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.encoders import jsonable_encoder
from prefect.client.orchestration import get_client

from physflow.flows import (
    annotate,
    caption,
    catalog_prune,
    catalog_verify,
    curate,
    export_dataset,
    generate,
    ingest,
    optical_flow,
    physics_context,
    pipeline,
    retrain,
    synth,
    train,
    train_prior,
)
from physflow.flows.prefect_flow import Flow
from physflow.flows.runtime import RunnerSpec, task_runner, with_runner

FLOWS = [annotate.annotate_flow, caption.caption_flow, catalog_prune.prune_flow, catalog_verify.verify_flow,
         curate.curate_flow, export_dataset.export_dataset_flow, generate.generate_flow, ingest.ingest_flow,
         optical_flow.optical_flow_flow, physics_context.physics_context_flow, pipeline.pipeline_flow,
         retrain.retrain_flow, synth.synth_flow, train.train_flow, train_prior.train_prior_flow]


def _params(flow_obj: Flow, tmp_path: Path) -> object:
    """The flow's parameter model with its required fields, and those of the fields below that it has, filled (every
    nested model at its defaults)."""
    image = tmp_path / "first.png"
    cv2.imwrite(str(image), np.full((64, 96, 3), 128, np.uint8))
    model = next(iter(flow_obj.fn.__annotations__.values()))
    model = getattr(sys.modules[flow_obj.fn.__module__], model) if isinstance(model, str) else model
    values = {"inputs": ["videos/", "s3://bucket/clips?endpoint_url=http://127.0.0.1:9000"],
              "curate": curate.CurateParams(inputs=["videos/"]),
              "catalog": "catalog", "out": "out", "image": str(image), "prompts": ["a ball rolls off a table"]}
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    missing = required - values.keys()
    assert not missing, f"{model.__name__} needs {missing}: give the test a value"
    return model(**{name: value for name, value in values.items() if name in model.model_fields})


@pytest.mark.parametrize("flow_obj", FLOWS, ids=lambda f: f.name)
def test_parameters_are_what_fastapi_would_store(flow_obj, tmp_path):
    assert isinstance(flow_obj, Flow)
    parameters = {"params": _params(flow_obj, tmp_path)}
    stored = flow_obj.serialize_parameters(parameters)
    assert stored == jsonable_encoder(parameters)
    assert json.loads(json.dumps(stored)) == stored  # plain JSON


def test_other_parameters_go_through_prefect():
    stored = curate.curate_flow.serialize_parameters({"params": Path("videos"), "n": 3})
    assert stored == {"params": "videos", "n": 3}


def test_a_flow_given_options_stays_a_physflow_flow():
    with task_runner(RunnerSpec()) as runner:
        assert isinstance(with_runner(curate.curate_flow, runner), Flow)
    changed = curate.curate_flow.with_options(name="curate-elsewhere")
    assert isinstance(changed, Flow) and changed.name == "curate-elsewhere"


def test_serialising_parameters_imports_no_fastapi():
    script = ("import sys\nfrom physflow.flows.curate import CurateParams, curate_flow\n"
              "curate_flow.serialize_parameters({'params': CurateParams(inputs=['v/'])})\n"
              "print('fastapi' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.timeout(300)
def test_a_flow_run_stores_those_parameters(prefect_api, tmp_path):
    params = catalog_verify.VerifyParams(catalog=str(tmp_path / "catalog"), grace_s=0)
    state = catalog_verify.verify_flow(params, return_state=True)
    assert state.is_completed()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.parameters == jsonable_encoder({"params": params})
