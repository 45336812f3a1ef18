"""`physflow curate PATH...`: the curation flow from the command line."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from physflow.flows.cli_common import (
    SETTLE_OPTION_HELP,
    catalog_root,
    client_ahead,
    console,
    fail,
    print_stage_summary,
    run_flow,
)
from physflow.flows.workers import start_fork_server

WORKER_MODULES = ("physflow.stages.analyze.stage", "physflow.stages.clip_export.stage")
"""The modules of the stages the curate flow runs on worker processes (analysis and export), by name: importing
them here would hold the fork server's start."""


def _params(paths: list[str], catalog: str, config: Path | None, overrides: dict[str, dict[str, Any]],
            top: dict[str, Any]) -> Any:
    """CurateParams from a TOML file (sections named like the params: analyze, dedup, filter, export ...)
    with the command-line options on top (`top`: those of the params themselves, such as shard_size)."""
    from physflow.flows.curate import CurateParams

    data: dict[str, Any] = tomllib.loads(config.read_text()) if config else {}
    for section, values in overrides.items():
        for key, value in values.items():
            if value is not None:
                target = data.setdefault(section, {})
                for part in key.split(".")[:-1]:
                    target = target.setdefault(part, {})
                target[key.split(".")[-1]] = value
    data.update(inputs=paths, catalog=catalog)
    data.update({key: value for key, value in top.items() if value is not None})
    return CurateParams.model_validate(data)


def register(app: typer.Typer) -> None:
    @app.command()
    def curate(  # noqa: PLR0917 (typer reads options from the signature)
        ctx: typer.Context,
        paths: Annotated[list[str], typer.Argument(help="Folders (recursive), globs, text files of paths, files, or object-store URIs (s3://bucket/prefix?endpoint_override=host:port; credentials from the environment).")],
        config: Annotated[Path | None, typer.Option("--config", exists=True, dir_okay=False,
                                                    help="curate.toml: sections ingest, analyze, dedup, filter, export.")] = None,
        shard_size: Annotated[int | None, typer.Option(
            min=1, help="Average videos per cached analysis/export shard (default 64; ingest shards hold 8 times "
            "as many): each shard is a Prefect task run and a catalog registration.")] = None,
        batch_videos: Annotated[int | None, typer.Option(
            min=1, help="Videos curated together, about (default 1024): more are curated in batches, one after "
            "another, each deduplicated against those before; memory stays that of one batch.")] = None,
        settle_s: Annotated[float | None, typer.Option(min=0.0, max=86_400.0, help=SETTLE_OPTION_HELP)] = None,
        width: Annotated[int | None, typer.Option(help="Working size in px for the analysis decode (the longer side).")] = None,
        threads: Annotated[int | None, typer.Option(help="Decoder threads per video (0: FFmpeg chooses).")] = None,
        min_clip_s: Annotated[float | None, typer.Option(help="Shortest clip window in seconds.")] = None,
        max_clip_s: Annotated[float | None, typer.Option(help="Longest clip window in seconds.")] = None,
        min_duration_s: Annotated[float | None, typer.Option(help="Filter: shortest kept clip, seconds.")] = None,
        short_side: Annotated[int | None, typer.Option(help="Export: short side of clip files, px.")] = None,
        preset: Annotated[str | None, typer.Option(
            help="Export: libx264 preset of re-encoded clips: ultrafast, superfast (the default), veryfast, faster, "
            "fast or medium; slower presets write smaller files at the same quality.")] = None,
    ) -> None:
        """Curate videos: shots, quality, dedup, filter with reasons, and export kept clips as MP4 blobs."""
        start_fork_server(WORKER_MODULES)  # the workers' imports, while this process imports Prefect and the flow
        client_ahead()
        from pydantic import ValidationError

        from physflow.flows.curate import curate_flow
        from physflow.flows.inputs import InputError

        overrides = {
            "analyze": {"width": width, "threads": threads, "shots.min_clip_s": min_clip_s,
                        "shots.max_clip_s": max_clip_s},
            "filter": {"min_duration_s": min_duration_s}, "export": {"short_side": short_side, "preset": preset},
        }
        try:
            params = _params(paths, catalog_root(ctx), config, overrides,
                             {"shard_size": shard_size, "batch_videos": batch_videos, "settle_s": settle_s})
        except (ValidationError, tomllib.TOMLDecodeError) as exc:
            fail(str(exc))
        result = run_flow(curate_flow, params, (InputError, ValueError))
        print_stage_summary(result.refs)
        s = result.summary
        console.print(f"{s['videos']} videos ({s['unreadable_videos']} unreadable), {s['clips']} clips")
        table = Table(header_style="bold")
        table.add_column("outcome")
        table.add_column("clips", justify="right")
        table.add_row("[green]kept[/]", str(s["kept"]))
        for reason, n in s["rejected_by_reason"].items():
            table.add_row(f"rejected: {reason}", str(n))
        console.print(table)
        console.print(f"{s['source_frames']} source frames in {s['seconds']} s ({s['frames_per_s']} frames/s)")
