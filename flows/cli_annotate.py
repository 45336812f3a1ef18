"""Annotation commands: `physflow annotate` and `physflow weights make-body-model`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _weights_group(app: typer.Typer) -> typer.Typer:
    """Turn the `weights` command into a group that still lists entries when called alone."""
    listing = next(c for c in app.registered_commands if (c.name or c.callback.__name__) == "weights")
    app.registered_commands.remove(listing)
    group = typer.Typer(help=listing.callback.__doc__)

    @group.callback(invoke_without_command=True)
    def weights(
        ctx: typer.Context,
        config: Annotated[Path | None, typer.Option(help="physflow.toml to read (default: ./physflow.toml).")] = None,
    ) -> None:
        if ctx.invoked_subcommand is None:
            listing.callback(config=config)

    app.add_typer(group, name="weights")
    return group


def make_body_model(
    path: Annotated[Path, typer.Argument(help="File to write, e.g. weights/SMPL_NEUTRAL.pkl.")] = Path(
        "weights/SMPL_NEUTRAL.pkl"),
) -> None:
    """Write physflow's procedural body model (24 joints, SMPL pickle format) for the `smpl` registry entry."""
    from physflow.flows.cli import console
    from physflow.models.body_model import build_body_model, read_model_file

    out = build_body_model(path)
    data = read_model_file(out)
    console.print(f"wrote {out}: {data['v_template'].shape[0]} vertices, {data['f'].shape[0]} faces, 24 joints. "
                  f"Register it as `smpl = \"{out}\"` under \\[weights] in physflow.toml, or put it in "
                  f"$PHYSFLOW_WEIGHTS_DIR as SMPL_NEUTRAL.pkl.")


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
    from physflow.flows.cli import _catalog_root, _fail, console, print_stage_summary, run_flow
    from physflow.models.registry import MissingWeightsError

    try:
        params = AnnotateParams(
            catalog=_catalog_root(ctx), limit=limit, shard_size=shard_size, use_weights=not no_weights,
            weights_config=str(weights_config) if weights_config else None,
            sampling={"stride": stride, "max_frames": max_frames, "width": width}, body_fit={"model": body_model},
        )
    except ValidationError as exc:
        _fail(str(exc))
    refs = run_flow(annotate_flow, params, (MissingWeightsError, ValueError))
    if not refs:
        console.print("no kept clips to annotate: run the curation flow first (clips with keep = true)")
    print_stage_summary([r for stage_refs in refs.values() for r in stage_refs])


def register(app: typer.Typer) -> None:
    group = _weights_group(app)
    group.command("make-body-model")(make_body_model)
    app.command()(annotate)
