"""`physflow flow`: optical flow for every kept clip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from physflow.flows.cli_common import console, fail, print_stage_summary, run_flow


def flow(
    ctx: typer.Context,
    *,
    method: Annotated[str, typer.Option(help="dis (embedded, no weights) | raft (weights: registry name 'raft').")] = "dis",
    width: Annotated[int, typer.Option(help="Working width in pixels (even).")] = 256,
    preset: Annotated[str, typer.Option(help="DIS preset: ultrafast | fast | medium.")] = "medium",
    raft_model: Annotated[str, typer.Option(help="raft_small | raft_large: the architecture of the weights file.")] = "raft_large",
    raft_iters: Annotated[int, typer.Option(help="RAFT refinement iterations per pair.")] = 12,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda (RAFT).")] = "auto",
    sigma: Annotated[float, typer.Option(help="VideoJAM opacity scale of the flow-RGB video.")] = 0.15,
    shard_size: Annotated[int, typer.Option(min=1, help="Average clips per cached shard.")] = 16,
    weights_config: Annotated[Path | None, typer.Option(help="physflow.toml naming weights files.")] = None,
) -> None:
    """Flow fields, VideoJAM flow-RGB videos and spectral volumes for every kept clip (the `flows` table)."""
    from pydantic import ValidationError

    from physflow.flows.optical_flow import OpticalFlowParams, optical_flow_flow
    from physflow.models.raft import RaftWeightsError
    from physflow.models.registry import MissingWeightsError

    try:
        params = OpticalFlowParams(
            catalog=ctx.obj["catalog"], shard_size=shard_size,
            weights_config=str(weights_config) if weights_config else None,
            optical_flow={"method": method, "width": width, "dis_preset": preset, "raft_model": raft_model,
                          "raft_iters": raft_iters, "device": device, "sigma": sigma},
        )
    except ValidationError as exc:
        fail(str(exc))
    refs = run_flow(optical_flow_flow, params, (MissingWeightsError, RaftWeightsError, FileNotFoundError)).refs
    if not refs:
        console.print("no kept clips in the catalog: run the curate flow first")
    print_stage_summary(refs)


def register(app: typer.Typer) -> None:
    app.command("flow")(flow)
