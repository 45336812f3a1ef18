"""Read-only commands that answer at once, without Prefect: `physflow catalog ...` and `physflow weights`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from physflow.flows.cli_common import catalog_root, console, fail, print_arrow, show_tables

catalog_app = typer.Typer(help="Read the catalog (tables, rows, SQL), check it (verify), rebuild its registry and "
                          "prune superseded results.", no_args_is_help=True)
weights_app = typer.Typer(help="List each known weights entry as present, missing or not configured, with its "
                          "fallback; `weights make-body-model` writes the procedural body model.")


@catalog_app.command("tables")
def catalog_tables(ctx: typer.Context) -> None:
    """List tables with rows, artifacts and bytes."""
    show_tables(catalog_root(ctx))


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
        fail(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    print_arrow(Catalog(catalog_root(ctx)).query(f'SELECT * FROM "{table}" LIMIT {limit + 1}'), title=table,
                limit=limit)


@catalog_app.command("sql")
def catalog_sql(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help='One SELECT, e.g. "SELECT codec, count(*) FROM videos GROUP BY 1".')],
    limit: Annotated[int, typer.Option(min=1, help="Rows to print.")] = 50,
    timeout: Annotated[float, typer.Option(min=0.1, max=86400, help="Seconds before the query is stopped.")] = 60.0,
) -> None:
    """Run one read-only SELECT over the catalog's views (videos, clips, ...) and `artifacts`. It reads only
    the catalog: COPY, ATTACH, EXPORT, INSTALL, LOAD, SET and files outside the catalog are refused."""
    import duckdb

    from physflow.data_catalog import Catalog
    from physflow.data_catalog.integrity import DamagedFileError
    from physflow.data_catalog.sql import RefusedQueryError, SqlLimits, run_read_only

    try:
        result = run_read_only(Catalog(catalog_root(ctx)), query, SqlLimits(timeout_s=timeout, max_rows=limit))
    except (RefusedQueryError, DamagedFileError) as exc:
        fail(str(exc))
    except duckdb.Error as exc:
        fail(str(exc).splitlines()[0])
    print_arrow(result.table, limit=limit)
    if result.truncated:
        console.print("... more rows (use --limit)")


@catalog_app.command("rebuild")
def catalog_rebuild(ctx: typer.Context) -> None:
    """Re-register every complete artifact on disk (after catalog.duckdb was lost or damaged)."""
    from physflow.data_catalog import Catalog

    n = Catalog(catalog_root(ctx)).rebuild()
    console.print(f"registered {n} artifacts")


@weights_app.callback(invoke_without_command=True)
def weights(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option(help="physflow.toml to read (default: ./physflow.toml).")] = None,
) -> None:
    """List each known weights entry as present, missing or not configured, with its fallback."""
    if ctx.invoked_subcommand is not None:
        return
    from physflow.models.registry import WeightsRegistry

    try:
        registry = WeightsRegistry.load(config)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    table = Table(title="weights", header_style="bold")
    for col in ("name", "state", "path", "fallback when absent"):
        table.add_column(col, overflow="fold")
    colors = {"present": "green", "missing": "red", "not configured": "yellow"}
    for row in registry.status():
        table.add_row(row["name"], f"[{colors[row['state']]}]{row['state']}[/]", row["path"], row["fallback"])
    console.print(table)


@weights_app.command("make-body-model")
def make_body_model(
    path: Annotated[Path, typer.Argument(help="File to write, e.g. weights/SMPL_NEUTRAL.pkl.")] = Path(
        "weights/SMPL_NEUTRAL.pkl"),
) -> None:
    """Write physflow's procedural body model (24 joints, SMPL pickle format) for the `smpl` registry entry."""
    from physflow.models.body_model import build_body_model, read_model_file

    out = build_body_model(path)
    data = read_model_file(out)
    console.print(f"wrote {out}: {data['v_template'].shape[0]} vertices, {data['f'].shape[0]} faces, 24 joints. "
                  f"Register it as `smpl = \"{out}\"` under \\[weights] in physflow.toml, or put it in "
                  f"$PHYSFLOW_WEIGHTS_DIR as SMPL_NEUTRAL.pkl.")


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")
    app.add_typer(weights_app, name="weights")
