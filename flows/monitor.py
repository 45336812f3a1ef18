"""Read run history from the Prefect API: the last runs of each flow and the state of each stage's task runs.

Used by `physflow status` and by the pipeline's summary. Stage task runs are named `<stage>-<shard>`
(see flows/runtime.py), so a run's stage is its name without the last dash-separated part.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterParentFlowRunId
from prefect.client.schemas.sorting import FlowRunSort, TaskRunSort

from physflow.flows.run_history import FlowRunInfo, StageInfo, stage_of

MAX_TASK_RUNS = 200  # the API's page size
__all__ = ["FlowRunInfo", "StageInfo", "recent_runs", "stage_of", "stage_states"]


def _task_runs(client: Any, flow_run_ids: Sequence[UUID | str]) -> list[Any]:
    ids = [UUID(str(i)) for i in flow_run_ids]
    runs: list[Any] = []
    while True:
        page = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=MAX_TASK_RUNS, offset=len(runs),
        )
        runs += page
        if len(page) < MAX_TASK_RUNS:
            return runs


def _subflow_ids(client: Any, flow_run_id: UUID | str) -> list[UUID]:
    """The flow run and every flow run nested in it, at any depth."""
    ids, frontier = [UUID(str(flow_run_id))], [UUID(str(flow_run_id))]
    while frontier:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=frontier)),
            sort=FlowRunSort.START_TIME_ASC, limit=MAX_TASK_RUNS)
        frontier = [c.id for c in children if c.id not in ids]
        ids += frontier
    return ids


def stage_states(flow_run_id: UUID | str, expected: int | None = None, wait_s: float = 30.0) -> dict[str, Counter[str]]:
    """Task runs of a flow run (and its nested flow runs) by stage, counted by final state name.

    Prefect reports task states through events, so they reach the API shortly after a flow returns:
    with `expected` (the number of stage task runs), poll up to `wait_s` until that many are final.
    """
    deadline = time.monotonic() + wait_s
    while True:
        with get_client(sync_client=True) as client:
            runs = [r for r in _task_runs(client, _subflow_ids(client, flow_run_id)) if stage_of(r.name)]
        final = [r for r in runs if r.state is not None and r.state.is_final()]
        if expected is None or len(final) >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    out: dict[str, Counter[str]] = {}
    for run in final:
        out.setdefault(str(stage_of(run.name)), Counter())[run.state.name] += 1
    return out


def recent_runs(limit: int = 20) -> tuple[list[FlowRunInfo], list[StageInfo]]:
    """The newest `limit` flow runs (with their task runs by state) and the stages seen in them."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=limit)
        # One GET per flow: the filter endpoint rejects the null fields this Prefect client sends.
        flows = {fid: client.read_flow(fid).name for fid in {r.flow_id for r in runs}}
        tasks = _task_runs(client, [r.id for r in runs]) if runs else []
    by_run: dict[UUID, Counter[str]] = {}
    stages: dict[str, StageInfo] = {}
    names = {r.id: r.name for r in runs}
    for t in tasks:
        if t.state is None:
            continue
        by_run.setdefault(t.flow_run_id, Counter())[t.state.name] += 1
        stage = stage_of(t.name)
        if stage is None:
            continue
        start = t.start_time or t.expected_start_time
        info = stages.get(stage)
        if info is None or (start and (info.last_start is None or start > info.last_start)):
            stages[stage] = StageInfo(
                stage=stage, last_state=t.state.name, last_start=start,
                flow_run=names.get(t.flow_run_id, ""), states=dict(info.states) if info else {},
            )
        stages[stage].states[t.state.name] = stages[stage].states.get(t.state.name, 0) + 1
    infos = [
        FlowRunInfo(
            id=str(r.id), flow=flows.get(r.flow_id, "?"), name=r.name,
            state=r.state.name if r.state else "?", start=r.start_time,
            seconds=round(r.total_run_time.total_seconds(), 2) if r.total_run_time is not None else None,
            tasks=dict(by_run.get(r.id, {})),
        )
        for r in runs
    ]
    return infos, sorted(stages.values(), key=lambda s: s.stage)

