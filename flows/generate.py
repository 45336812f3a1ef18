"""generate-video: prompts + a first frame -> coarse, physics-prior and refined videos (`generations`)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict, Field, field_validator

from physflow.data_catalog import Catalog
from physflow.data_catalog.keys import file_sha256
from physflow.flows.annotate import AnnotateParams, stage_configs
from physflow.flows.env import DEFAULT_CATALOG
from physflow.flows.prefect_flow import flow
from physflow.flows.results import FlowResult
from physflow.flows.runtime import plan, run_jobs
from physflow.flows.train_prior import newest_priors
from physflow.stages.generate.config import TINY_CHECKPOINTS, GenerateConfig, PriorRef, is_pipeline_folder
from physflow.stages.generate.stage import GenerateItem, GenerateStage, generation_id
from physflow.stages.generate.targets import load_target_pose

SUMMARY_KEY = "physflow-generation-summary"


def _readable_image(path: str | None) -> str | None:
    if path is None:
        return None
    resolved = Path(path).expanduser()
    if not resolved.is_file() or cv2.imread(str(resolved), cv2.IMREAD_UNCHANGED) is None:
        raise ValueError(f"not a readable image file: {path!r}")
    return str(resolved.resolve())


class GenerateParams(BaseModel):
    """Parameters of the generate flow: what to generate, from which first frame, and how (nested config)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompts: list[str] = Field(..., min_length=1, max_length=1000, description="Prompts; one generation each.")
    image: str = Field(..., description="First frame: an image file (PNG, JPEG ...).")
    sketch: str | None = Field(None, description="Optional target sketch for the final frame: a label map or "
                               "a drawing (non-black = part), used in phase 1 at the sketch confidence.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the first prompt; prompt i uses seed + i.")
    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI.")
    weights_config: str | None = Field(None, description="physflow.toml naming the weights phase 2's annotation "
                                       "stages use (default: ./physflow.toml), as for the annotate flow.")
    use_weights: bool = Field(True, description="False: phase 2's annotation stages use their embedded defaults "
                              "even where weights are registered.")
    generate: GenerateConfig = Field(default_factory=GenerateConfig)

    @field_validator("prompts")
    @classmethod
    def _non_empty(cls, prompts: list[str]) -> list[str]:
        empty = [i for i, p in enumerate(prompts) if not p.strip()]
        if empty:
            raise ValueError(f"prompts at positions {empty} are empty")
        return prompts

    pose: str | None = Field(None, description="Optional target pose for the final frame: a JSON file of 17 COCO "
                             "keypoints in first-frame pixels, drawn as body parts and used like a sketch.")

    _image = field_validator("image")(_readable_image)
    _sketch = field_validator("sketch")(_readable_image)

    @field_validator("pose")
    @classmethod
    def _readable_pose(cls, path: str | None) -> str | None:
        if path is None:
            return None
        load_target_pose(path)  # a missing or malformed file fails here, naming what is wrong
        return str(Path(path).expanduser().resolve())


def _require_checkpoint(catalog: Catalog, checkpoint: str) -> None:
    """A catalog checkpoint must be registered: fail before any work, naming it."""
    if checkpoint in TINY_CHECKPOINTS or is_pipeline_folder(checkpoint):
        return
    found = catalog.query("SELECT count(*) FROM checkpoints WHERE checkpoint_id = ?", [checkpoint]).column(0)[0].as_py()
    if not found:
        raise ValueError(f"no checkpoint {checkpoint!r} in catalog {catalog.root.uri} (physflow catalog show checkpoints)")


def with_annotation_weights(params: GenerateParams) -> GenerateConfig:
    """The generate config with the weights of phase 2's detect, pose and body_fit stages resolved from the
    registry, exactly as the annotate flow resolves them: a configured file that is missing fails here."""
    reading = params.generate.annotation
    if not reading.enabled:
        return params.generate
    configs = stage_configs(AnnotateParams(
        catalog=params.catalog, weights_config=params.weights_config, use_weights=params.use_weights,
        sampling=reading.sampling, detect=reading.detect, pose=reading.pose, body_fit=reading.body_fit))
    reading = reading.model_copy(update={"detect": configs.detect, "pose": configs.pose, "body_fit": configs.body_fit})
    return params.generate.model_copy(update={"annotation": reading})


def with_learned_priors(catalog: Catalog, config: GenerateConfig) -> GenerateConfig:
    """The generate config with the catalog's newest trained priors (train-physics-prior) filled in, as the
    learned_prior source asks; `catalog` without any fails here, before work."""
    lp = config.learned_prior
    if not lp.enabled or lp.source == "synthetic" or lp.objects or lp.bodies:
        return config
    found = newest_priors(catalog)
    if not found and lp.source == "catalog":
        raise ValueError(f"learned_prior.source is 'catalog' but catalog {catalog.root.uri} has no trained physics "
                         "prior: run `physflow train-prior` (or set learned_prior.source to 'synthetic')")
    refs = {kind: PriorRef(prior_id=row["prior_id"], sha256=row["sha256"], uri=row["uri"],
                           catalog=str(catalog.root.uri)) for kind, row in found.items()}
    return config.model_copy(update={"learned_prior": lp.model_copy(update=refs)})


@flow(name="generate-video", log_prints=True)
def generate_flow(params: GenerateParams) -> FlowResult:
    catalog = Catalog(params.catalog)
    _require_checkpoint(catalog, params.generate.checkpoint)
    config = with_learned_priors(catalog, with_annotation_weights(params))
    image_sha = file_sha256(params.image)
    items = [GenerateItem(prompt=p, image_path=params.image, image_sha256=image_sha, blob_root=str(catalog.root.uri),
                          seed=params.seed + i, sketch_path=params.sketch, pose_path=params.pose) for i, p in enumerate(params.prompts)]
    keys = [generation_id(item, config) for item in items]
    jobs = plan(GenerateStage, config, items, keys=keys, catalog=catalog, shard_size=1)
    refs = run_jobs(jobs)
    create_markdown_artifact(key=SUMMARY_KEY, markdown=summary_markdown(catalog, keys), _sync=True,
                             description="physflow generation: seconds, physics measures and videos per phase")
    return FlowResult(refs=refs)


def summary_markdown(catalog: Catalog, ids: list[str]) -> str:
    """Per generation and phase: seconds, what phase 2 found, the physics violations, and the videos."""
    rows = catalog.query(
        "SELECT generation_id, seed, prompt, stage, seconds, metrics, video_uri, preview_uri, error FROM generations "
        "WHERE generation_id IN (SELECT unnest(?)) ORDER BY generation_id, phase", [ids]).to_pylist()
    lines = ["# physflow generation", "", "| generation | seed | phase | seconds | measures | video |",
             "|---|---|---|---|---|---|"]
    previews = {}
    for r in rows:
        if r["error"]:
            lines.append(f"| {r['generation_id']} | {r['seed']} | failed | | {r['error']} | |")
            continue
        m = json.loads(r["metrics"] or "{}")
        found = {k: m[k] for k in ("objects", "objects_from", "people") if k in m}
        violations = (m.get("physics_metrics") or {}).get("violations")
        shown = found if r["stage"] == "prior" else {"violations": violations if violations is not None else "n/a"}
        lines.append(f"| {r['generation_id']} | {r['seed']} | {r['stage']} | {r['seconds']:.2f} | "
                     f"{', '.join(f'{k}: {v}' for k, v in shown.items())} | {r['video_uri']} |")
        previews[r["generation_id"]] = (r["prompt"], r["preview_uri"])
    lines += ["", "Side-by-side previews (coarse | part masks | refined):", ""]
    lines += [f"- {gid}: {prompt!r}: {uri}" for gid, (prompt, uri) in previews.items()]
    return "\n".join(lines) + "\n"
