"""`physflow catalog verify [--repair]`: find missing, damaged and orphaned files of a catalog, and repair."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    from physflow.flows.cli_catalog import catalog_app

    catalog_app.command(name="verify")(verify)


def verify(
    ctx: typer.Context,
    repair: Annotated[bool, typer.Option(help="Quarantine damaged and orphaned files, delete stale temp files; "
                                              "their stages compute them again on the next run.")] = False,
    grace: Annotated[float, typer.Option(min=0, help="Seconds: younger orphans and temp files are left alone "
                                                     "(a run in progress may be writing them).")] = 3600.0,
    limit: Annotated[int, typer.Option(min=1, help="Findings to print.")] = 200,
) -> None:
    """Read every manifest, artifact and referenced blob in full and print what is missing, damaged, orphaned
    or a stale temporary file. Exit status 1 when something is wrong and --repair was not given."""
    from rich.table import Table

    from physflow.data_catalog import Catalog
    from physflow.data_catalog.verify import verify_catalog
    from physflow.flows.catalog_verify import summary_line
    from physflow.flows.cli import _catalog_root, console

    report = verify_catalog(Catalog(_catalog_root(ctx)), repair=repair, grace_s=grace)
    if report.findings:
        table = Table(title="findings" + (" (repaired)" if repair else ""), header_style="bold")
        for col in ("kind", "path", "reason"):
            table.add_column(col, overflow="fold")
        for f in report.findings[:limit]:
            table.add_row(f.kind, f.path, f.reason)
        console.print(table)
    console.print(summary_line(report) + (" (repaired: quarantined and swept)" if repair and report.findings else ""))
    if report.findings and not repair:
        raise typer.Exit(1)
