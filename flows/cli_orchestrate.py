"""Orchestration commands: `physflow pipeline`, `physflow status`, `physflow ui`, `physflow deploy`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from physflow.flows import env
from physflow.flows.cli_common import SETTLE_OPTION_HELP, catalog_root, client_ahead, command_run, console, fail

PROJECT = Path(__file__).resolve().parents[1]

RunnerOpt = Annotated[str, typer.Option("--runner", help="default | dask | ray: where stage task runs execute.")]
AddressOpt = Annotated[str | None, typer.Option(help="Address of an existing Dask/Ray cluster (default: start one).")]
WorkersOpt = Annotated[int, typer.Option(min=1, help="Worker processes of a local Dask/Ray cluster.")]

def pipeline(  # noqa: PLR0917 (typer: one parameter per option)
    ctx: typer.Context,
    paths: Annotated[list[str] | None, typer.Argument(help="Folders (recursive), globs, path lists, files, or object-store URIs (s3://bucket/prefix).")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Write the demo videos and run on them.")] = False,
    runner: RunnerOpt = "default",
    address: AddressOpt = None,
    workers: WorkersOpt = 2,
    shard_size: Annotated[int, typer.Option(min=1, help="Average videos per cached curation shard.")] = 8,
    previews: Annotated[int, typer.Option(min=0, help="Preview images to write.")] = 4,
    settle_s: Annotated[float, typer.Option(min=0.0, max=86_400.0, help=SETTLE_OPTION_HELP)] = 0.0,
) -> None:
    """Run the chain (curate -> annotate -> optical flow) as one flow run with a markdown summary artifact."""
    client_ahead()
    from pydantic import ValidationError

    from physflow.flows.demo import write_demo_videos
    from physflow.flows.inputs import InputError
    from physflow.flows.pipeline import DEMO_FILTER, PipelineParams, pipeline_flow, summary_rows

    root = catalog_root(ctx)
    inputs = list(paths or [])
    if demo:
        inputs.append(str(write_demo_videos(Path(root) / "demo-inbox")[0].parent))
    if not inputs:
        fail("name at least one input (or --demo)")
    try:
        curate: dict[str, object] = {"inputs": inputs, "shard_size": shard_size, "settle_s": settle_s}
        if demo:
            curate["filter"] = DEMO_FILTER
        params = PipelineParams(catalog=root, previews=previews, curate=curate,
                                runner={"kind": runner, "address": address, "workers": workers})
    except ValidationError as exc:
        fail(str(exc))
    try:
        with command_run(transient=True):
            report = pipeline_flow(params)
    except (InputError, RuntimeError, ValueError) as exc:
        fail(str(exc))
    table = Table(title="pipeline", header_style="bold")
    for col in ("step", "state", "stage", "task runs", "shards", "rows", "errors", "rejects", "seconds"):
        table.add_column(col)
    for row in summary_rows(report):
        table.add_row(*row)
    console.print(table)
    for p in report.previews:
        console.print(f"preview: {p}")


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counter.items())) or "none"


def status(
    limit: Annotated[int, typer.Option(min=1, max=200, help="Flow runs to read, newest first.")] = 20,
) -> None:
    """Print the last runs of each flow and the last task run of each stage: from the Prefect server when one
    runs for this catalog, else straight from the catalog's run database (no server started)."""
    from physflow.flows.run_history import local_database, read_database

    database = local_database()
    if database is not None:
        runs, stages = read_database(database, limit)
    else:
        runs, stages = _from_api(limit)
    flows = Table(title="flow runs (newest first)", header_style="bold")
    for col in ("flow", "run", "state", "started (UTC)", "seconds", "task runs"):
        flows.add_column(col)
    for r in runs:
        flows.add_row(r.flow, r.name, r.state, f"{r.start:%Y-%m-%d %H:%M:%S}" if r.start else "-",
                      "-" if r.seconds is None else str(r.seconds), _counts(r.tasks))
    console.print(flows)
    table = Table(title="stages", header_style="bold")
    for col in ("stage", "last state", "last run (UTC)", "in flow run", "task runs by state"):
        table.add_column(col)
    for s in stages:
        table.add_row(s.stage, s.last_state, f"{s.last_start:%Y-%m-%d %H:%M:%S}" if s.last_start else "-",
                      s.flow_run, _counts(s.states))
    console.print(table)
    if not runs:
        console.print("no flow runs yet")


def _from_api(limit: int) -> tuple[list, list]:
    from physflow.flows.monitor import recent_runs

    try:
        return recent_runs(limit)
    except Exception as exc:  # an unreachable API is a bad run: say which
        from prefect.settings import PREFECT_API_URL

        fail(f"cannot read the Prefect API at {PREFECT_API_URL.value() or 'the local database'}: {exc}")


def ui(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 4200,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the server to answer.")] = 60.0,
) -> None:
    """Start a local Prefect server (UI and API) on 127.0.0.1 with its database under the catalog root."""
    home = env.prefect_home(catalog_root(ctx))
    home.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}/api"
    child_env = {
        **os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": url, "PREFECT_API_URL": url,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=child_env,
    )
    deadline = time.monotonic() + timeout
    while not env.server_alive(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            fail(f"the Prefect server did not answer on {url} within {timeout:.0f} s")
        time.sleep(0.5)
    (home / env.UI_URL_FILE).write_text(url)
    console.print(f"[bold green]Prefect UI:[/] http://127.0.0.1:{port}   (API {url}; database under {home})")
    console.print("physflow commands using this catalog now report to this server. Ctrl-C stops it.")
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=30)
    finally:
        (home / env.UI_URL_FILE).unlink(missing_ok=True)


def deploy(
    names: Annotated[list[str] | None, typer.Argument(help="Deployment names from prefect.yaml (default: all).")] = None,
    prefect_file: Annotated[Path, typer.Option(help="The prefect.yaml to deploy.")] = PROJECT / "prefect.yaml",
) -> None:
    """Create the work pools and register prefect.yaml's deployments with the running Prefect server."""
    from prefect.settings import PREFECT_API_URL

    from physflow.flows.deploy import CPU_POOL, GPU_POOL, DeployError
    from physflow.flows.deploy import deploy as deploy_file

    url = PREFECT_API_URL.value()
    if not url:
        fail("no Prefect server: start one with `physflow ui` (or set PREFECT_API_URL), then deploy")
    try:
        made, done = deploy_file(prefect_file, names)
    except DeployError as exc:
        fail(str(exc))
    console.print(f"work pools: {CPU_POOL}, {GPU_POOL}" + (f" (created {', '.join(made)})" if made else ""))
    for name in done:
        console.print(f"deployed {name} to {url}")
    console.print(f"start workers: prefect worker start --pool {CPU_POOL}   (and --pool {GPU_POOL} for training)")


def register(app: typer.Typer) -> None:
    app.command()(pipeline)
    app.command()(status)
    app.command()(ui)
    app.command()(deploy)
