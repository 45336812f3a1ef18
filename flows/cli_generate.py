"""`physflow generate`: prompt + first frame -> coarse, physics-prior and refined videos."""

from __future__ import annotations

from typing import Annotated

import typer

from physflow.flows.cli_common import catalog_root, fail, print_arrow, print_stage_summary, run_flow


def register(app: typer.Typer) -> None:
    app.command(name="generate")(generate)
    app.command(name="train-prior")(train_prior)


def train_prior(
    ctx: typer.Context,
    *,
    window: Annotated[int, typer.Option(min=4, help="Frames per training window of a track.")] = 16,
    steps: Annotated[int, typer.Option(min=1, help="Adam steps per prior.")] = 400,
    min_sequences: Annotated[int, typer.Option(min=1, help="Fewer windows of a kind: that prior is not trained.")] = 8,
    weights_config: Annotated[str | None, typer.Option(help="physflow.toml naming the SMPL file of the fits.")] = None,
    no_weights: Annotated[bool, typer.Option("--no-weights", help="Use the procedural body model.")] = False,
) -> None:
    """Train generation's learned physical prior on the catalog's annotations: one temporal denoiser for object
    trajectories (detect tracks) and one for body-pose sequences (SMPL body fits). `physflow generate` then
    uses the newest ones (learned_prior.source auto or catalog). Cached: without new annotations, no work."""
    from pydantic import ValidationError

    from physflow.data_catalog import Catalog
    from physflow.flows.train_prior import TrainPriorParams, train_prior_flow
    from physflow.models.registry import MissingWeightsError

    root = catalog_root(ctx)
    try:
        params = TrainPriorParams(catalog=root, weights_config=weights_config, use_weights=not no_weights,
                                  prior={"window": window, "steps": steps, "min_sequences": min_sequences})
    except ValidationError as exc:
        fail(str(exc))
    refs = run_flow(train_prior_flow, params, (MissingWeightsError, ValueError)).refs
    print_stage_summary(refs)
    print_arrow(Catalog(root).query(
        "SELECT prior_id, kind, clips, tracks, sequences, round(loss_last, 4) AS loss, "
        "round(heldout_gain, 3) AS heldout_gain, error FROM physics_priors ORDER BY kind"), title="physics_priors")


def generate(
    ctx: typer.Context,
    *,
    prompt: Annotated[list[str], typer.Option("--prompt", "-p", help="A prompt; repeat for a batch.")],
    image: Annotated[str, typer.Option("--image", "-i", help="First frame (an image file).")],
    sketch: Annotated[str | None, typer.Option(help="Target sketch for the final frame (an image file).")] = None,
    pose: Annotated[str | None, typer.Option(help="Target pose for the final frame: JSON of 17 COCO keypoints "
                                             "([x, y, confidence], first-frame pixels).")] = None,
    checkpoint: Annotated[str, typer.Option(help="tiny-revision | tiny-videojam | a checkpoint_id | a folder "
                                            "written by `physflow export`.")] = "tiny-revision",
    seed: Annotated[int, typer.Option(min=0, help="Seed of the first prompt (prompt i: seed + i).")] = 0,
    frames: Annotated[int, typer.Option(help="Frames per video.")] = 8,
    width: Annotated[int, typer.Option(help="Width, px (multiple of 16).")] = 64,
    height: Annotated[int, typer.Option(help="Height, px (multiple of 16).")] = 64,
    fps: Annotated[float, typer.Option(help="Frames per second.")] = 8.0,
    steps: Annotated[int, typer.Option(help="Sampler steps per phase.")] = 8,
    guidance: Annotated[float, typer.Option(help="Text guidance weight (w1).")] = 5.0,
    motion_guidance: Annotated[float, typer.Option(help="Inner-Guidance motion weight (w2), joint models.")] = 3.0,
    weights_config: Annotated[str | None, typer.Option(help="physflow.toml naming the weights of phase 2's "
                                                        "detect, pose and body_fit stages.")] = None,
    no_weights: Annotated[bool, typer.Option("--no-weights", help="Phase 2's annotation stages use their "
                                             "embedded defaults only.")] = False,
    annotate: Annotated[bool, typer.Option(help="Phase 2 reads the coarse video with the annotation stages "
                                           "(--no-annotate: moving blobs only, no bodies).")] = True,
) -> None:
    """Generate videos in three phases: coarse, 3D physics-prior optimisation to part masks, refined. Writes an
    MP4 per phase and a side-by-side preview (blobs) and `generations` rows with physics measures per phase.

    Phase 2 runs the detect, pose and body_fit stages on the coarse video (weights from physflow.toml, as for
    `physflow annotate`), optimises the objects and people it finds under the physical prior and draws them
    as part masks for phase 3."""
    from pydantic import ValidationError

    from physflow.data_catalog import Catalog
    from physflow.flows.generate import GenerateParams, generate_flow
    from physflow.models.registry import MissingWeightsError

    root = catalog_root(ctx)
    try:
        params = GenerateParams(
            prompts=prompt, image=image, sketch=sketch, pose=pose, seed=seed, catalog=root, weights_config=weights_config,
            use_weights=not no_weights,
            generate={"checkpoint": checkpoint, "frames": frames, "width": width, "height": height, "fps": fps,
                      "steps": steps, "guidance": {"text": guidance, "motion": motion_guidance},
                      "annotation": {"enabled": annotate}},
        )
    except ValidationError as exc:
        fail(str(exc))
    refs = run_flow(generate_flow, params, (MissingWeightsError, ValueError)).refs
    print_stage_summary(refs)
    print_arrow(Catalog(root).query(
        "SELECT generation_id, seed, stage, round(seconds, 3) AS seconds, video_uri, preview_uri, metrics, error "
        "FROM generations ORDER BY generation_id, phase"), title="generations")
