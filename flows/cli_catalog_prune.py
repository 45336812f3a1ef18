"""`physflow catalog prune [--older-than 7d] [--dry-run]`: free the space of superseded artifacts and their blobs."""

from __future__ import annotations

import re
from typing import Annotated

import typer

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def register(app: typer.Typer) -> None:
    from physflow.flows.cli_catalog import catalog_app

    catalog_app.command(name="prune")(prune)


def duration_s(text: str) -> float:
    """Seconds from a duration such as 90s, 30m, 12h, 7d, 2w or a plain number of seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a duration: a number with s, m, h, d or w after it (e.g. 7d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def prune(
    ctx: typer.Context,
    older_than: Annotated[str, typer.Option(
        help="Prune artifacts superseded longer ago than this (90s, 30m, 12h, 7d, 2w; 0: all superseded). Those "
             "superseded since stay, so a config changed back within it is still Cached.")] = "7d",
    dry_run: Annotated[bool, typer.Option(help="Only print what would be pruned.")] = False,
) -> None:
    """Delete the artifacts that newer ones of the same stage and shard superseded (another config's results),
    and the blobs (clip files, masks) that only they referenced; what the tables show is never touched. Run it
    while no flow writes to the catalog."""
    from rich.table import Table

    from physflow.data_catalog import Catalog
    from physflow.data_catalog.prune import prune_catalog, size_text, summary_line
    from physflow.flows.cli_common import catalog_root, console

    report = prune_catalog(Catalog(catalog_root(ctx)), older_than_s=duration_s(older_than), dry_run=dry_run)
    if report.pruned:
        table = Table(title="would prune" if dry_run else "pruned", header_style="bold")
        for col in ("stage", "artifacts", "size"):
            table.add_column(col, justify="left" if col == "stage" else "right")
        for stage, (n, size) in report.by_stage().items():
            table.add_row(stage, str(n), size_text(size))
        table.add_row("blobs", str(report.blobs), size_text(report.blob_bytes))
        console.print(table)
    console.print(summary_line(report))
