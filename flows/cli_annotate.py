"""Annotation commands: `physflow weights make-body-model` and `physflow annotate`."""

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
    from flows.cli import console
    from models.body_model import build_body_model, read_model_file

    out = build_body_model(path)
    data = read_model_file(out)
    console.print(f"wrote {out}: {data['v_template'].shape[0]} vertices, {data['f'].shape[0]} faces, 24 joints. "
                  f"Register it as `smpl = \"{out}\"` under \\[weights] in physflow.toml, or put it in "
                  f"$PHYSFLOW_WEIGHTS_DIR as SMPL_NEUTRAL.pkl.")


def register(app: typer.Typer) -> None:
    group = _weights_group(app)
    group.command("make-body-model")(make_body_model)
