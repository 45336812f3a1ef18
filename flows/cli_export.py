"""`physflow export`: a registered checkpoint as a diffusers pipeline folder the stock pipeline class (or physflow's
subclass of it, for models with extra inputs) loads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export(
    ctx: typer.Context,
    checkpoint_id: Annotated[str, typer.Argument(help="A checkpoint_id of the catalog's `checkpoints` table.")],
    out_dir: Annotated[Path, typer.Argument(help="Folder to write (must not exist or be empty).")],
    merge: Annotated[bool, typer.Option(help="LoRA runs: fuse the LoRA into the transformer instead of a LoRA file.")] = False,
) -> None:
    """Write CHECKPOINT_ID as a diffusers folder: <pipeline class>.from_pretrained(OUT_DIR) loads it (WanPipeline,
    StableVideoDiffusionPipeline, or physflow's ReVisionSVDPipeline / VideoJAMWanPipeline for mask or flow inputs)."""
    from physflow.data_catalog import Catalog
    from physflow.flows.cli_common import catalog_root as _catalog_root
    from physflow.flows.cli_common import console
    from physflow.flows.cli_common import fail as _fail
    from physflow.stages.train.export import export_checkpoint

    if out_dir.exists() and any(out_dir.iterdir()):
        _fail(f"output folder {out_dir} is not empty")
    try:
        written = export_checkpoint(Catalog(_catalog_root(ctx)), checkpoint_id, out_dir, merge=merge)
    except (KeyError, ValueError) as exc:
        _fail(str(exc))
    console.print(f"[bold]{checkpoint_id}[/] -> {written['folder']} ({written['kind']}, {written['pipeline']})")


def register(app: typer.Typer) -> None:
    app.command("export")(export)
