"""The `physflow` command."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from physflow.flows import env

app = typer.Typer(
    name="physflow",
    help="physflow turns raw videos into physics-annotated training data, trains physics-aware video "
    "generators on it, and generates videos with them. Every stage result is cached by content in a catalog "
    "(Parquet tables + DuckDB) and every run is a Prefect flow run you can watch with `physflow ui`.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
catalog_app = typer.Typer(help="Read the catalog: tables, rows, SQL (read-only).", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")

# Modules that add their commands to `app` (each defines `register(app)`), one line per area.
_EXTENSIONS: tuple[str, ...] = (
    "physflow.flows.cli_orchestrate",
    "physflow.flows.cli_flow",
    "physflow.flows.cli_curate",
    "physflow.flows.cli_synth",
    "physflow.flows.cli_annotate",
    "physflow.flows.cli_weights_install",  # after cli_annotate, which makes `weights` a group
    "physflow.flows.cli_physics",
    "physflow.flows.cli_generate",
    "physflow.flows.cli_train",
)
console = Console() if sys.stdout.isatty() else Console(width=200)

CatalogOpt = Annotated[
    str,
    typer.Option("--catalog", "-c", envvar="PHYSFLOW_CATALOG", help="Catalog root folder (or URI).",
                 show_default=True),
]


@app.callback()
def main(ctx: typer.Context, catalog: CatalogOpt = "./physflow-data") -> None:
    ctx.obj = {"catalog": catalog}
    env.configure(catalog)


def _catalog_root(ctx: typer.Context) -> str:
    return str(ctx.obj["catalog"])


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(2)


def run_flow(flow_fn: Any, params: Any, errors: tuple[type[BaseException], ...] = (ValueError,)) -> Any:
    """Run a flow with progress bars; an error of the kinds named (a bad run: missing weights, bad inputs)
    ends the command with its message and exit status 2, before or instead of a traceback."""
    from physflow.flows.progress import rich_progress

    try:
        with rich_progress():
            return flow_fn(params)
    except errors as exc:
        _fail(str(exc))


def print_arrow(table: Any, title: str | None = None, limit: int = 50) -> None:
    """Print a pyarrow table as a rich table (first `limit` rows)."""
    out = Table(title=title, show_lines=False, header_style="bold")
    for name in table.column_names:
        out.add_column(name, overflow="fold")
    for row in table.slice(0, limit).to_pylist():
        out.add_row(*("" if v is None else _short(v) for v in row.values()))
    console.print(out)
    if table.num_rows > limit:
        console.print(f"... {table.num_rows - limit} more rows (use --limit)")


def _short(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 120 else text[:117] + "..."


def print_stage_summary(refs: list[Any]) -> None:
    from physflow.flows.runtime import summarize

    by_stage: dict[str, list[Any]] = {}
    for ref in refs:
        by_stage.setdefault(ref.stage, []).append(ref)
    for stage, stage_refs in by_stage.items():
        s = summarize(stage_refs)
        problems = ", ".join(f"{k}: {v}" for k, v in {**s["errors"], **s["rejected"]}.items()) or "none"
        console.print(f"[bold]{stage}[/]: {s['rows']} rows in {s['shards']} shard(s), {s['seconds']} s of work; "
                      f"errors/rejects: {problems}")


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Folders (recursive), globs, text files of paths, or files.")],
    decode_check: Annotated[str, typer.Option(help="full | first | none: how much to decode to prove readable.")] = "full",
    shard_size: Annotated[int, typer.Option(min=1, help="Average videos per cached shard.")] = 64,
) -> None:
    """Probe videos into the `videos` table (unreadable files become rows with an error)."""
    from pydantic import ValidationError

    from physflow.flows.ingest import IngestParams, ingest_flow
    from physflow.flows.inputs import InputError
    from physflow.flows.progress import rich_progress

    try:
        params = IngestParams(inputs=paths, catalog=_catalog_root(ctx), shard_size=shard_size,
                              ingest={"decode_check": decode_check})
    except ValidationError as exc:
        _fail(str(exc))
    try:
        with rich_progress():
            refs = ingest_flow(params)
    except InputError as exc:
        _fail(str(exc))
    print_stage_summary(refs)


@app.command()
def demo(
    ctx: typer.Context,
    synthetic: Annotated[int, typer.Option(min=0, max=64, help="Synthetic physics clips to render too.")] = 4,
) -> None:
    """Run the main job on embedded defaults (no weights): render small physics scenes and shape videos, then
    curate, annotate, compute optical flow and physics context for them, and show the catalog."""
    from physflow.data_catalog import Catalog
    from physflow.flows.demo import write_demo_videos
    from physflow.flows.pipeline import DEMO_FILTER, PipelineParams, pipeline_flow
    from physflow.flows.progress import rich_progress
    from physflow.flows.synth import SynthParams, synth_flow

    root = Path(_catalog_root(ctx))
    inbox = root / "demo-inbox"
    videos = write_demo_videos(inbox)
    console.print(f"wrote {len(videos)} demo videos to {inbox}")
    with rich_progress():
        inputs = [str(inbox)]
        if synthetic:
            synth_flow(SynthParams(n=synthetic, catalog=str(root)))
            inputs += Catalog(str(root)).query("SELECT uri FROM synth_clips ORDER BY index").column("uri").to_pylist()
        report = pipeline_flow(PipelineParams(catalog=str(root), curate={"inputs": inputs, "filter": DEMO_FILTER}))
    for step in report.steps:
        for stage, total in step.totals.items():
            problems = ", ".join(f"{k}: {v}" for k, v in {**total["errors"], **total["rejected"]}.items()) or "none"
            console.print(f"[bold]{step.step}/{stage}[/]: {total['rows']} rows in {total['shards']} shard(s); "
                          f"errors/rejects: {problems}")
    _show_tables(str(root))
    print_arrow(Catalog(str(root)).query(
        "SELECT video_id, regexp_extract(uri, '[^/]*$') AS file, container, codec, width, height, fps, n_frames, "
        "duration_s, error FROM videos ORDER BY file"
    ), title="videos")
    console.print("Browse the runs with `physflow ui`; query tables with `physflow catalog sql`.")


def _show_tables(root: str) -> None:
    from physflow.data_catalog import Catalog

    table = Table(title=f"catalog {Path(root).resolve()}", header_style="bold")
    for col in ("table", "rows", "artifacts", "bytes"):
        table.add_column(col, justify="left" if col == "table" else "right")
    for row in Catalog(root).tables():
        table.add_row(row["table"], str(row["rows"]), str(row["artifacts"]), f"{row['bytes']:,}")
    console.print(table)


@catalog_app.command("tables")
def catalog_tables(ctx: typer.Context) -> None:
    """List tables with rows, artifacts and bytes."""
    _show_tables(_catalog_root(ctx))


@catalog_app.command("show")
def catalog_show(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help="Table name, e.g. videos.")],
    limit: Annotated[int, typer.Option(min=1, help="Rows to print.")] = 20,
) -> None:
    """Print the current rows of one table."""
    from physflow.data_catalog import Catalog
    from physflow.data_catalog.schemas import TABLES

    if table not in TABLES:
        _fail(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    print_arrow(Catalog(_catalog_root(ctx)).query(f'SELECT * FROM "{table}" LIMIT {limit + 1}'), title=table,
                limit=limit)


@catalog_app.command("sql")
def catalog_sql(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help='One SQL statement, e.g. "SELECT codec, count(*) FROM videos GROUP BY 1".')],
    limit: Annotated[int, typer.Option(min=1, help="Rows to print.")] = 50,
) -> None:
    """Run a read-only SQL query over the catalog's views (videos, clips, ...) and `artifacts`."""
    import duckdb

    from physflow.data_catalog import Catalog

    try:
        result = Catalog(_catalog_root(ctx)).query(query)
    except duckdb.Error as exc:
        _fail(str(exc).splitlines()[0])
    print_arrow(result, limit=limit)


@catalog_app.command("rebuild")
def catalog_rebuild(ctx: typer.Context) -> None:
    """Re-register every complete artifact on disk (after catalog.duckdb was lost or damaged)."""
    from physflow.data_catalog import Catalog

    n = Catalog(_catalog_root(ctx)).rebuild()
    console.print(f"registered {n} artifacts")


@app.command()
def weights(
    config: Annotated[Path | None, typer.Option(help="physflow.toml to read (default: ./physflow.toml).")] = None,
) -> None:
    """List each known weights entry as present, missing or not configured, with its fallback."""
    from physflow.models.registry import WeightsRegistry

    try:
        registry = WeightsRegistry.load(config)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    table = Table(title="weights", header_style="bold")
    for col in ("name", "state", "path", "fallback when absent"):
        table.add_column(col, overflow="fold")
    colors = {"present": "green", "missing": "red", "not configured": "yellow"}
    for row in registry.status():
        table.add_row(row["name"], f"[{colors[row['state']]}]{row['state']}[/]", row["path"], row["fallback"])
    console.print(table)


@app.command()
def ui(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 4200,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the server to answer.")] = 60.0,
) -> None:
    """Start a local Prefect server (UI and API) on 127.0.0.1 with its database under the catalog root."""
    root = _catalog_root(ctx)
    home = env.prefect_home(root)
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
            _fail(f"the Prefect server did not answer on {url} within {timeout:.0f} s")
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


for _module in _EXTENSIONS:
    importlib.import_module(_module).register(app)

if __name__ == "__main__":
    app()
