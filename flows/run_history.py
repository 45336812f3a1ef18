"""Run history as `physflow status` prints it, read without Prefect when no server runs.

With a Prefect server (`physflow ui`, or PREFECT_API_URL) the history comes from its API
(flows/monitor.py). Without one, the runs of a catalog live in the SQLite database under its
`.prefect` folder; reading it directly answers in milliseconds instead of starting a temporary server.
Stage task runs are named `<stage>-<shard>` (flows/runtime.py), so a run's stage is its name without
the last dash-separated part.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from pydantic import BaseModel

DATABASE_FILE = "prefect.db"  # Prefect's default database name under PREFECT_HOME
_EPOCH = dt.datetime(1970, 1, 1)


class FlowRunInfo(BaseModel):
    """One flow run as `physflow status` prints it."""

    id: str
    flow: str
    name: str
    state: str
    start: dt.datetime | None
    seconds: float | None
    tasks: dict[str, int]


class StageInfo(BaseModel):
    """The newest task run of one stage, and how its recent task runs ended."""

    stage: str
    last_state: str
    last_start: dt.datetime | None
    flow_run: str
    states: dict[str, int]


_STAGE_RUN = re.compile(r"^(?P<stage>.+)-[0-9a-f]{8}$")


def stage_of(task_run_name: str) -> str | None:
    """The stage a task run belongs to, or None for other task runs (nested-flow placeholders, helpers)."""
    match = _STAGE_RUN.match(task_run_name)
    return match.group("stage") if match else None


def local_database() -> Path | None:
    """The SQLite file Prefect's ephemeral API uses for this process's PREFECT_HOME, or None when runs go
    elsewhere (a server address, another database)."""
    if os.environ.get("PREFECT_API_URL") or os.environ.get("PREFECT_API_DATABASE_CONNECTION_URL"):
        return None
    if "prefect" in sys.modules:  # loaded in this process: its settings (maybe temporary ones) decide
        from prefect.settings import PREFECT_API_URL

        if PREFECT_API_URL.value():
            return None
    home = os.environ.get("PREFECT_HOME")
    return Path(home).expanduser() / DATABASE_FILE if home else None


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC) if text else None


_FLOW_RUNS = """
SELECT r.id, f.name AS flow, r.name, r.state_name, r.start_time, r.total_run_time
FROM flow_run r JOIN flow f ON f.id = r.flow_id
ORDER BY r.start_time IS NULL, r.start_time DESC LIMIT ?
"""


def read_database(path: Path, limit: int = 20) -> tuple[list[FlowRunInfo], list[StageInfo]]:
    """The newest `limit` flow runs (with their task runs by state) and the stages seen in them, read
    from a Prefect SQLite database (read-only)."""
    if not path.is_file():
        return [], []
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        runs = db.execute(_FLOW_RUNS, (limit,)).fetchall()
        ids = [r[0] for r in runs]
        marks = ",".join("?" * len(ids))
        tasks = db.execute(
            f"SELECT flow_run_id, name, state_name, coalesce(start_time, expected_start_time) FROM task_run "
            f"WHERE flow_run_id IN ({marks}) AND state_name IS NOT NULL ORDER BY 4", ids).fetchall() if ids else []
    names = {r[0]: r[2] for r in runs}
    by_run: dict[str, Counter[str]] = {}
    stages: dict[str, StageInfo] = {}
    for run_id, name, state, start in tasks:
        by_run.setdefault(run_id, Counter())[state] += 1
        stage = stage_of(name)
        if stage is None:
            continue
        info = stages.setdefault(stage, StageInfo(stage=stage, last_state=state, last_start=None, flow_run="",
                                                  states={}))
        info.last_state, info.last_start, info.flow_run = state, _time(start), names.get(run_id, "")
        info.states[state] = info.states.get(state, 0) + 1
    infos = [
        FlowRunInfo(id=run_id, flow=flow, name=name, state=state or "?", start=_time(start),
                    seconds=round((dt.datetime.fromisoformat(total) - _EPOCH).total_seconds(), 2) if total else None,
                    tasks=dict(by_run.get(run_id, {})))
        for run_id, flow, name, state, start, total in runs
    ]
    return infos, sorted(stages.values(), key=lambda s: s.stage)
