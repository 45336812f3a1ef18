"""`physflow train`: train one recipe on the catalog's training set."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from physflow.flows.cli_common import catalog_root, command_heartbeats, console, fail


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def train(
    ctx: typer.Context,
    recipe: Annotated[str | None, typer.Option(help="revision | videojam | wisa | diffphy (default: the config's, else videojam).")] = None,
    config: Annotated[Path | None, typer.Option(help="train.toml: tables [recipe], [data], [loop] and top-level keys.")] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Override loop.steps.")] = None,
    run_id: Annotated[str | None, typer.Option(help="Run folder name (default: derived from settings and data).")] = None,
) -> None:
    """Train a recipe on the catalog's training set (kept clips + flows + part masks + physics context)."""
    from pydantic import ValidationError

    from physflow.flows.train import TrainParams, train_flow

    raw: dict[str, Any] = {}
    if config is not None:
        if not config.is_file():
            fail(f"config file {config} does not exist")
        raw = tomllib.loads(config.read_text())
    raw = _merge(raw, {"catalog": catalog_root(ctx)})
    if recipe or "recipe" not in raw.get("recipe", {}):
        raw = _merge(raw, {"recipe": {"recipe": recipe or "videojam"}})
    if steps:
        raw = _merge(raw, {"loop": {"steps": steps}})
    if run_id:
        raw["run_id"] = run_id
    try:
        params = TrainParams.model_validate(raw)
    except ValidationError as exc:
        fail(str(exc))
    try:
        with command_heartbeats():
            summary = train_flow(params)
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    console.print(f"[bold]{summary.run_id}[/]: {summary.steps} steps (resumed from {summary.resumed_from}); "
                  f"loss {summary.first_loss} -> {summary.last_loss}; checkpoints: {', '.join(summary.checkpoint_ids)}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
