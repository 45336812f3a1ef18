"""`physflow synth`: the synthetic physics world with exact truth, and its physics metrics."""

from __future__ import annotations

from typing import Annotated

import typer

from physflow.flows.cli_common import catalog_root, command_run, console, fail, print_arrow, print_stage_summary


def register(app: typer.Typer) -> None:
    app.command(name="synth")(synth)


def synth(
    ctx: typer.Context,
    *,
    n: Annotated[int, typer.Option("--n", min=1, help="Clips to make (scene kinds taken in turn).")] = 14,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the set: the same seed gives the same clips.")] = 0,
    scenes: Annotated[str, typer.Option(help="Comma-separated scene kinds (default: all).")] = "",
    width: Annotated[int, typer.Option(help="Frame width, px (even).")] = 256,
    height: Annotated[int, typer.Option(help="Frame height, px (even).")] = 192,
    frames: Annotated[int, typer.Option(help="Frames per clip.")] = 32,
    fps: Annotated[float, typer.Option(help="Frames per second.")] = 16.0,
    shard_size: Annotated[int, typer.Option(min=1, help="Average clips per cached shard.")] = 16,
    metrics: Annotated[bool, typer.Option(help="Measure physics metrics of every clip.")] = True,
) -> None:
    """Render procedural physics clips (H.264) with exact ground truth (synth_clips, synth_objects), ingest
    them (videos) and measure them (physics_metrics)."""
    from pydantic import ValidationError

    from physflow.data_catalog import Catalog
    from physflow.flows.synth import SynthParams, synth_flow

    root = catalog_root(ctx)
    try:
        params = SynthParams(
            n=n, seed=seed, catalog=root, shard_size=shard_size,
            synth={"width": width, "height": height, "n_frames": frames, "fps": fps},
            metrics={} if metrics else None,
            **({"scenes": [s.strip() for s in scenes.split(",") if s.strip()]} if scenes else {}),
        )
    except ValidationError as exc:
        fail(str(exc))
    with command_run():
        refs = synth_flow(params)
    print_stage_summary(refs)
    catalog = Catalog(root)
    if metrics:
        print_arrow(catalog.query(
            "SELECT c.scene, c.seed, round(c.g, 2) AS g, round(m.gravity_m_s2, 3) AS g_est, "
            "round(c.restitution, 3) AS e, round(m.restitution, 3) AS e_est, round(m.momentum_change, 4) AS dP, "
            "round(m.pos_err_px, 2) AS pos_err_px, m.violations, m.error FROM synth_clips c "
            "LEFT JOIN physics_metrics m USING (clip_id) ORDER BY c.index"
        ), title="synth clips and their physics metrics")
    console.print(f"videos and flow fields: {root}/blobs; tables: physflow catalog show synth_clips | synth_objects "
                  "| physics_metrics")
