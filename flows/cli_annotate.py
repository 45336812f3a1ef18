"""`physflow annotate`: detect, track, pose, fit bodies and draw part masks over the kept clips."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from physflow.flows.cli_common import catalog_root, console, fail, print_stage_summary, run_flow


def annotate(
    ctx: typer.Context,
    *,
    limit: Annotated[int | None, typer.Option(min=1, help="Annotate at most this many kept clips.")] = None,
    shard_size: Annotated[int, typer.Option(min=1, help="Average clips per cached shard.")] = 64,
    stride: Annotated[int, typer.Option(min=1, help="Annotate every N-th frame of a clip.")] = 1,
    max_frames: Annotated[int, typer.Option(min=1, help="At most this many frames per clip.")] = 64,
    width: Annotated[int, typer.Option(min=32, help="Working width in pixels.")] = 640,
    body_model: Annotated[str, typer.Option(help="smpl | smplx: body model family (registered files, else the procedural body in that format).")] = "smpl",
    weights_config: Annotated[Path | None, typer.Option(help="physflow.toml naming weights.")] = None,
    no_weights: Annotated[bool, typer.Option("--no-weights", help="Use the embedded fallbacks only.")] = False,
) -> None:
    """Detect, track, pose, fit bodies and draw part masks over the kept clips (cached per shard)."""
    from pydantic import ValidationError

    from physflow.flows.annotate import AnnotateParams, annotate_flow
    from physflow.models.registry import MissingWeightsError

    try:
        params = AnnotateParams(
            catalog=catalog_root(ctx), limit=limit, shard_size=shard_size, use_weights=not no_weights,
            weights_config=str(weights_config) if weights_config else None,
            sampling={"stride": stride, "max_frames": max_frames, "width": width}, body_fit={"model": body_model},
        )
    except ValidationError as exc:
        fail(str(exc))
    refs = run_flow(annotate_flow, params, (MissingWeightsError, ValueError)).refs
    if not refs:
        console.print("no kept clips to annotate: run the curation flow first (clips with keep = true)")
    print_stage_summary(refs)


def register(app: typer.Typer) -> None:
    app.command()(annotate)
