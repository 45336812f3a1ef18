"""physflow-pipeline: the flows in order (DESIGN §2), each also runnable alone, on one task runner.

The chain is curate (ingest, analyze, dedup, filter, export) -> annotate (detect, pose, body fit, part
masks) -> optical flow -> caption -> physics context -> train (optional) -> physics prior (optional) -> generate
(optional). A flow joins as one
section in `PipelineParams` (the flow's own parameter model; the pipeline sets its catalog) and one
`_step(...)` line in `pipeline_flow`. Each step is a nested flow
run (its own page in the UI, its stage task runs inside it); the run ends with a markdown artifact
summarising every step (shards, Cached, rows, errors and rejects by reason, seconds) and naming the
preview images it wrote.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog
from physflow.flows.annotate import AnnotateParams, annotate_flow
from physflow.flows.caption import CaptionParams, caption_flow
from physflow.flows.curate import CurateParams, curate_flow
from physflow.flows.env import DEFAULT_CATALOG
from physflow.flows.generate import GenerateParams, generate_flow
from physflow.flows.monitor import stage_states
from physflow.flows.optical_flow import OpticalFlowParams, optical_flow_flow
from physflow.flows.physics_context import PhysicsParams, physics_context_flow
from physflow.flows.prefect_flow import flow
from physflow.flows.previews import write_previews
from physflow.flows.runtime import (
    ArtifactRef,
    RunnerSpec,
    artifact_key,
    summarize,
    task_run_count,
    task_runner,
    with_runner,
)
from physflow.flows.train import TrainParams, train_flow
from physflow.flows.train_prior import TrainPriorParams, train_prior_flow

SUMMARY_KEY = "physflow-pipeline-summary"
DEMO_FILTER = {"min_height": 96}  # the demo's shape videos are 128 px tall; keep their clips


class PipelineParams(BaseModel):
    """One parameter model for the whole chain (validated by Prefect, also in the UI's run form)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI (every step's catalog).")
    runner: RunnerSpec = Field(default_factory=RunnerSpec, description="Where stage task runs execute.")
    curate: CurateParams = Field(..., description="Curation of the input videos (its `inputs` are the pipeline's).")
    annotate: AnnotateParams = Field(default_factory=AnnotateParams,
                                     description="Annotation of kept clips (its catalog is the pipeline's).")
    optical_flow: OpticalFlowParams = Field(default_factory=OpticalFlowParams,
                                            description="Optical flow over kept clips (its catalog is the pipeline's).")
    caption: CaptionParams = Field(default_factory=CaptionParams,
                                   description="A caption per kept clip (its catalog is the pipeline's).")
    physics_context: PhysicsParams = Field(
        default_factory=lambda: PhysicsParams(from_catalog=True),
        description="Physics context of the captions (the caption step's per clip, the curate inputs' sidecars, "
        "the catalog's synthetic captions).",
    )
    train: TrainParams | None = Field(None, description="Train on the catalog after enrichment (None: no training).")
    train_prior: TrainPriorParams | None = Field(
        None, description="Train generation's learned physical prior on the annotations (None: not trained).")
    generate: GenerateParams | None = Field(
        None, description="Generate at the end (None: no generation); uses the checkpoint this run trained, if any.")
    previews: int = Field(4, ge=0, le=64, description="Preview images (middle frames of readable videos) to write.")


class StepReport(BaseModel):
    """One step of a pipeline run: its nested flow run and what its stages did."""

    step: str
    flow_run_id: str
    state: str
    totals: dict[str, dict[str, Any]]  # by stage: shards, rows, errors and rejects by reason, seconds
    task_states: dict[str, dict[str, int]]  # by stage: task runs by final state, as the Prefect API has them

    def stages(self) -> list[str]:
        return list(dict.fromkeys([*self.totals, *self.task_states]))


class PipelineReport(BaseModel):
    """What `pipeline_flow` returns; also rendered as its markdown artifact."""

    catalog: str
    runner: str
    steps: list[StepReport] = Field(default_factory=list)
    tables: list[dict[str, Any]] = Field(default_factory=list)
    previews: list[str] = Field(default_factory=list)


def _step(report: PipelineReport, name: str, flow_obj: Any, params: BaseModel, runner: Any) -> Any:
    """Run one flow as a nested flow run on `runner`; record its state and its stages' task-run states.
    Every step's flow returns a FlowResult (flows/results.py; curate's CurateResult has the same fields)."""
    state = with_runner(flow_obj, runner)(params, return_state=True)
    run_id = str(state.state_details.flow_run_id)
    result = state.result()  # raises when the step failed: later steps need its output
    by_stage: dict[str, list[ArtifactRef]] = {}
    for ref in getattr(result, "refs", []):  # getattr only while the train flow's TrainSummary has no refs
        by_stage.setdefault(ref.stage, []).append(ref)
    expected = sum(task_run_count(refs) for refs in by_stage.values())
    states = {stage: dict(c) for stage, c in stage_states(run_id, expected=expected).items()}
    report.steps.append(StepReport(step=name, flow_run_id=run_id, state=state.name, task_states=states,
                                   totals={stage: summarize(refs) for stage, refs in by_stage.items()}))
    return result


def _on(step_params: BaseModel, catalog: str) -> BaseModel:
    """A step's parameters pointed at the pipeline's catalog."""
    return step_params.model_copy(update={"catalog": catalog})


def _with_checkpoint(params: GenerateParams, trained: Any) -> GenerateParams:
    """Generation from the checkpoint trained earlier in the same run, when there is one."""
    if not trained or not trained.checkpoint_ids:
        return params
    config = params.generate.model_copy(update={"checkpoint": trained.checkpoint_ids[-1]})
    return params.model_copy(update={"generate": config})


@task(name="previews")
def previews_task(catalog: str, limit: int) -> list[str]:
    return write_previews(Catalog(catalog), limit)


@flow(name="physflow-pipeline", log_prints=True)
def pipeline_flow(params: PipelineParams) -> PipelineReport:
    report = PipelineReport(catalog=params.catalog, runner=params.runner.kind)
    with task_runner(params.runner) as runner:
        _step(report, "curate", curate_flow, _on(params.curate, params.catalog), runner)
        _step(report, "annotate", annotate_flow, _on(params.annotate, params.catalog), runner)
        _step(report, "optical_flow", optical_flow_flow, _on(params.optical_flow, params.catalog), runner)
        _step(report, "caption", caption_flow, _on(params.caption, params.catalog), runner)
        # sidecar captions reach physics_context through the caption step, one per kept clip
        _step(report, "physics_context", physics_context_flow, _on(params.physics_context, params.catalog), runner)
        trained = _step(report, "train", train_flow, _on(params.train, params.catalog), runner) if params.train else None
        if params.train_prior is not None:
            _step(report, "train_prior", train_prior_flow, _on(params.train_prior, params.catalog), runner)
        if params.generate is not None:
            _step(report, "generate", generate_flow, _on(_with_checkpoint(params.generate, trained), params.catalog),
                  runner)
    report.previews = previews_task(params.catalog, params.previews) if params.previews else []
    report.tables = [t for t in Catalog(params.catalog).tables() if t["artifacts"]]
    create_markdown_artifact(key=artifact_key(SUMMARY_KEY), markdown=summary_markdown(report),
                             description="physflow pipeline run summary", _sync=True)
    return report


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counter.items())) or "none"


def summary_rows(report: PipelineReport) -> list[list[str]]:
    """One row per (step, stage): state, task runs by state, shards, rows, errors, rejects, seconds."""
    rows = []
    for s in report.steps:
        for stage in s.stages() or ["-"]:
            t = s.totals.get(stage, {"shards": 0, "rows": 0, "errors": {}, "rejected": {}, "seconds": 0.0})
            rows.append([s.step, s.state, stage, _counts(s.task_states.get(stage, {})), str(t["shards"]),
                         str(t["rows"]), _counts(t["errors"]), _counts(t["rejected"]), str(t["seconds"])])
    return rows


def summary_markdown(report: PipelineReport) -> str:
    """The run summary: one row per step, the catalog's tables, the preview images."""
    lines = [
        "# physflow pipeline run", "",
        f"Catalog `{report.catalog}`, task runner `{report.runner}`.", "",
        "| step | state | stage | task runs | shards | rows | errors | rejects | seconds of work |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary_rows(report):
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "## Catalog tables", "", "| table | rows | artifacts | bytes |", "|---|---|---|---|"]
    lines += [f"| {t['table']} | {t['rows']} | {t['artifacts']} | {t['bytes']:,} |" for t in report.tables]
    lines += ["", "## Preview images", ""]
    lines += [f"- `{p}`" for p in report.previews] or ["none written"]
    return "\n".join(lines) + "\n"
