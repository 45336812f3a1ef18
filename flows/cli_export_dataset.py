"""`physflow export-dataset OUT --format {hf,webdataset,csv}`: the catalog's selected clips for trainers."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("export-dataset")(export_dataset)


def export_dataset(  # noqa: PLR0917 (Typer options are parameters)
    ctx: typer.Context,
    out: Annotated[str, typer.Argument(help="Output folder (a re-run into it resumes).")],
    format: Annotated[str, typer.Option("--format", help="hf | webdataset | csv.")] = "hf",
    where: Annotated[str, typer.Option(help='SQL condition over the samples view, e.g. "keep AND caption IS NOT '
                                             'NULL".')] = "keep AND clip_path IS NOT NULL",
    shard_size: Annotated[int, typer.Option(min=1, help="Samples per Parquet file or tar shard.")] = 256,
    masks: Annotated[bool, typer.Option(help="webdataset: include part masks.")] = True,
) -> None:
    """Export the selected clips with captions, physics context, flow RGB and part masks."""
    from pydantic import ValidationError

    from physflow.flows.cli_common import catalog_root as _catalog_root
    from physflow.flows.cli_common import console, run_flow
    from physflow.flows.cli_common import fail as _fail
    from physflow.flows.export_dataset import ExportParams, export_dataset_flow

    try:
        params = ExportParams(out=out, format=format, where=where, shard_size=shard_size, masks=masks,  # type: ignore[arg-type]
                              catalog=_catalog_root(ctx))
    except ValidationError as exc:
        _fail(str(exc))
    report = run_flow(export_dataset_flow, params, (ValueError,))
    console.print(f"{report.samples} samples -> {report.out} ({report.format}, {len(report.files)} files, "
                  f"{report.bytes:,} bytes)")
