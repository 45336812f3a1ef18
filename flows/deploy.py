"""Register prefect.yaml's deployments and work pools with a Prefect server (`physflow deploy`).

prefect.yaml stays the one place schedules, pools and concurrency are written; this reads it and makes
the same API calls `prefect deploy` makes (flow, deployment with schedules, concurrency limit and
collision strategy, parameter schema for the UI's run form). Doing it through the client keeps
`physflow deploy` non-interactive and independent of the Prefect CLI's prompts.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate, WorkPoolCreate
from prefect.client.schemas.objects import ConcurrencyLimitStrategy, ConcurrencyOptions
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
from prefect.exceptions import ObjectAlreadyExists
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

CPU_POOL, GPU_POOL = "physflow-cpu", "physflow-gpu"
POOLS = ((CPU_POOL, None, "physflow CPU stages"), (GPU_POOL, 1, "physflow GPU training, one run at a time"))


class DeployError(ValueError):
    """prefect.yaml names something that cannot be deployed; raised before anything is registered."""


def ensure_work_pools(client: Any) -> list[str]:
    """Create the CPU and GPU process work pools when missing; return the names created."""
    made = []
    for name, limit, text in POOLS:
        try:
            client.create_work_pool(WorkPoolCreate(name=name, type="process", description=text,
                                                   concurrency_limit=limit))
            made.append(name)
        except ObjectAlreadyExists:
            pass
    return made


def _schedule(spec: dict[str, Any]) -> DeploymentScheduleCreate:
    if "cron" in spec:
        schedule: Any = CronSchedule(cron=spec["cron"], timezone=spec.get("timezone", "UTC"))
    elif "interval" in spec:
        schedule = IntervalSchedule(interval=dt.timedelta(seconds=float(spec["interval"])),
                                    timezone=spec.get("timezone", "UTC"))
    else:
        raise DeployError(f"schedule {spec} needs `cron` or `interval`")
    return DeploymentScheduleCreate(schedule=schedule, active=bool(spec.get("active", True)))


def _concurrency(spec: Any) -> tuple[int | None, ConcurrencyOptions | None]:
    if spec is None or isinstance(spec, int):
        return spec, None
    strategy = ConcurrencyLimitStrategy(spec.get("collision_strategy", "ENQUEUE"))
    return int(spec["limit"]), ConcurrencyOptions(collision_strategy=strategy)


def _entrypoint(prefect_file: Path, entrypoint: str) -> str:
    """A module entrypoint (`physflow.flows.curate:curate_flow`) as is; a file entrypoint relative to prefect.yaml."""
    path, _, _ = entrypoint.rpartition(":")
    return str(prefect_file.parent / entrypoint) if path.endswith(".py") else entrypoint


def load(prefect_file: Path, names: list[str] | None = None) -> list[dict[str, Any]]:
    """The deployments of `prefect_file` (all, or those named), checked before any is registered."""
    config = yaml.safe_load(prefect_file.read_text())
    deployments = list(config.get("deployments") or [])
    known = [d["name"] for d in deployments]
    missing = sorted(set(names or []) - set(known))
    if missing:
        raise DeployError(f"no deployment named {', '.join(missing)} in {prefect_file}; it has {', '.join(known)}")
    chosen = [d for d in deployments if not names or d["name"] in names]
    for d in chosen:
        d["_schedules"] = [_schedule(s) for s in d.get("schedules") or []]
        d["_flow"] = load_flow_from_entrypoint(_entrypoint(prefect_file, d["entrypoint"]))
    return chosen


def deploy(prefect_file: Path, names: list[str] | None = None) -> tuple[list[str], list[str]]:
    """Register the chosen deployments (created or updated); return (pools created, deployments registered)."""
    chosen = load(prefect_file, names)
    project = str(prefect_file.parent.resolve())
    done = []
    with get_client(sync_client=True) as client:
        made = ensure_work_pools(client)
        for d in chosen:
            flow_obj = d["_flow"]
            limit, options = _concurrency(d.get("concurrency_limit"))
            pool = d.get("work_pool") or {}
            client.create_deployment(
                flow_id=client.create_flow_from_name(flow_obj.name), name=d["name"],
                entrypoint=d["entrypoint"], path=project, description=d.get("description"),
                tags=list(d.get("tags") or []), parameters=d.get("parameters") or {},
                parameter_openapi_schema=parameter_schema(flow_obj).model_dump_for_openapi(),
                enforce_parameter_schema=True, schedules=d["_schedules"],
                concurrency_limit=limit, concurrency_options=options,
                work_pool_name=pool.get("name"), work_queue_name=pool.get("work_queue_name"),
                pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": project}}],
            )
            done.append(f"{flow_obj.name}/{d['name']}")
    return made, done
