"""The `physflow` command.

Commands live in modules `flows/cli_<topic>.py`; each defines `register(app)`, which adds its commands (or
Typer sub-apps) to `app`. This file imports those modules normally and calls them in `COMMAND_MODULES`
order. To add commands: write `flows/cli_<topic>.py` with `register(app)`, import it below and add it to
`COMMAND_MODULES` (one line each). Helpers shared by the modules (console, catalog root, failing with a
message, running a flow, printing tables) are public in `flows/cli_common.py`; modules never import this file.

Command modules import Prefect, stages and models inside their commands, not at module level, so read-only
commands (`catalog`, `weights`, `status` without a server, one-shot `enrich`) answer without Prefect.
"""

from __future__ import annotations

from typing import Annotated

import typer

from physflow.flows import (
    cli_annotate,
    cli_catalog,
    cli_catalog_prune,
    cli_catalog_verify,
    cli_curate,
    cli_export,
    cli_export_dataset,
    cli_flow,
    cli_generate,
    cli_ingest,
    cli_orchestrate,
    cli_physics,
    cli_synth,
    cli_train,
    cli_weights_install,
    env,
    lifetime,
)
from physflow.flows.cli_common import fail

app = typer.Typer(
    name="physflow",
    help="physflow turns raw videos into physics-annotated training data, trains physics-aware video "
    "generators on it, and generates videos with them. Every stage result is cached by content in a catalog "
    "(Parquet tables + DuckDB) and every batch run is a Prefect flow run you can watch with `physflow ui`.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

CatalogOpt = Annotated[
    str,
    typer.Option("--catalog", "-c", envvar="PHYSFLOW_CATALOG", help="Catalog root folder (or URI).",
                 show_default=True),
]


@app.callback()
def main(ctx: typer.Context, catalog: CatalogOpt = env.DEFAULT_CATALOG) -> None:
    ctx.obj = {"catalog": catalog}
    if "://" in str(catalog) and ctx.invoked_subcommand is not None:  # an object store: reachable before any work
        from physflow.data_catalog.storage import Root

        try:
            Root(catalog)
        except (OSError, ValueError) as exc:
            fail(str(exc))
    env.configure(catalog)
    lifetime.bind_children_to_this_process()  # a temporary Prefect server never outlives the command


# One line per command module, in the order their commands appear in `physflow --help`.
COMMAND_MODULES = (
    cli_ingest,
    cli_catalog,
    cli_catalog_verify,
    cli_catalog_prune,
    cli_orchestrate,
    cli_curate,
    cli_annotate,
    cli_flow,
    cli_physics,
    cli_export_dataset,
    cli_synth,
    cli_generate,
    cli_train,
    cli_export,
    cli_weights_install,
)
for _module in COMMAND_MODULES:
    _module.register(app)


def run() -> None:
    """The `physflow` console command: the app, then the process's quick end (`lifetime.exit_now`). An error
    the app does not turn into an exit status propagates as usual, traceback and all."""
    try:
        app()
    except SystemExit as exc:
        status = exc.code
    else:
        status = 0
    lifetime.exit_now(status)


if __name__ == "__main__":
    run()
