"""`physflow ingest` (videos into the `videos` table) and `physflow demo` (the main job on embedded defaults)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from physflow.flows.cli_common import (
    SETTLE_OPTION_HELP,
    catalog_root,
    client_ahead,
    command_run,
    console,
    fail,
    print_arrow,
    print_stage_summary,
    run_flow,
    show_tables,
)


def ingest(  # noqa: PLR0917 (typer reads options from the signature)
    ctx: typer.Context,
    paths: Annotated[list[str], typer.Argument(help="Folders (recursive), globs, text files of paths, files, or object-store URIs (s3://bucket/prefix?endpoint_override=host:port; credentials from the environment).")],
    decode_check: Annotated[str, typer.Option(help="full | first | none: how much to decode to prove readable.")] = "full",
    shard_size: Annotated[int, typer.Option(min=1, help="Average videos per cached shard.")] = 64,
    frames_fps: Annotated[float, typer.Option(min=0.1, max=1000.0, help="Frame rate of a folder of numbered image "
                                              "frames (one video).")] = 25.0,
    settle_s: Annotated[float, typer.Option(min=0.0, max=86_400.0, help=SETTLE_OPTION_HELP)] = 0.0,
) -> None:
    """Probe videos into the `videos` table (unreadable files become rows with an error). Animated GIF/WebP
    files are videos; a folder of numbered PNG/JPEG frames is one video."""
    client_ahead()
    from pydantic import ValidationError

    from physflow.flows.ingest import IngestParams, ingest_flow
    from physflow.flows.inputs import InputError

    try:
        params = IngestParams(inputs=paths, catalog=catalog_root(ctx), shard_size=shard_size, frames_fps=frames_fps,
                              settle_s=settle_s, ingest={"decode_check": decode_check})
    except ValidationError as exc:
        fail(str(exc))
    print_stage_summary(run_flow(ingest_flow, params, (InputError,)))


# A person early in the demo's scene cycle, so the default four clips show pose, body fits and part masks too.
DEMO_SCENES = ("free_fall", "human_jump", "collision2_elastic", "pendulum", "projectile", "sliding", "human_walk",
               "collision2_inelastic", "human_wave", "collision3_elastic", "weak_gravity", "drift")


def demo(
    ctx: typer.Context,
    synthetic: Annotated[int, typer.Option(min=0, max=64, help="Synthetic physics clips to render too.")] = 4,
) -> None:
    """Run the main job on embedded defaults (no weights): render small physics scenes (one with a person) and shape
    videos, then curate, annotate, compute optical flow and physics context for them, and show the catalog."""
    from physflow.data_catalog import Catalog
    from physflow.flows.demo import write_demo_videos
    from physflow.flows.pipeline import DEMO_FILTER, PipelineParams, pipeline_flow
    from physflow.flows.synth import SynthParams, synth_flow

    root = Path(catalog_root(ctx))
    inbox = root / "demo-inbox"
    videos = write_demo_videos(inbox)
    console.print(f"wrote {len(videos)} demo videos to {inbox}")
    with command_run():
        inputs = [str(inbox)]
        if synthetic:
            synth_flow(SynthParams(n=synthetic, scenes=list(DEMO_SCENES), catalog=str(root)))
            inputs += Catalog(str(root)).query("SELECT uri FROM synth_clips ORDER BY index").column("uri").to_pylist()
        report = pipeline_flow(PipelineParams(catalog=str(root), curate={"inputs": inputs, "filter": DEMO_FILTER}))
    for step in report.steps:
        for stage, total in step.totals.items():
            problems = ", ".join(f"{k}: {v}" for k, v in {**total["errors"], **total["rejected"]}.items()) or "none"
            console.print(f"[bold]{step.step}/{stage}[/]: {total['rows']} rows in {total['shards']} shard(s); "
                          f"errors/rejects: {problems}")
    show_tables(str(root))
    print_arrow(Catalog(str(root)).query(
        "SELECT video_id, regexp_extract(uri, '[^/]*$') AS file, container, codec, width, height, fps, n_frames, "
        "duration_s, error FROM videos ORDER BY file"
    ), title="videos")
    console.print("Browse the runs with `physflow ui`; query tables with `physflow catalog sql`.")


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command()(demo)
