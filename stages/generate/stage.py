"""generate: prompt + first frame -> coarse video, physics-prior part masks, refined video (`generations` rows).

One request gives three rows, one per phase (stage = coarse / prior / refined), each with its MP4 (the prior
phase's video shows the part masks in colour), the label maps of phase 2 (npz), a side-by-side preview shared
by the three rows, the physics measures of that phase and its seconds. A request that fails is one error row.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import torch

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.keys import canonical_json
from physflow.data_catalog.schemas import GENERATIONS
from physflow.data_catalog.storage import Root
from physflow.models.physics_prior import PriorTraining, TemporalPrior, load_prior, train_temporal_prior
from physflow.stages.base import Stage
from physflow.stages.common.video_io import write_video
from physflow.stages.generate.config import TINY_CHECKPOINTS, GenerateConfig, PriorRef, is_pipeline_folder
from physflow.stages.generate.generator import build_generator
from physflow.stages.generate.media import labels_rgb, side_by_side
from physflow.stages.generate.pipeline import GenerateRequest, GenerationPipeline, GenerationResult
from physflow.stages.generate.prior import synthetic
from physflow.stages.generate.prior.coarse import CoarseAnnotator
from physflow.stages.generate.prior.phase import Priors
from physflow.stages.generate.targets import load_target_pose, sketch_labels

PHASES = ("coarse", "prior", "refined")


@dataclass(frozen=True)
class GenerateItem:
    """One request: prompt, first-frame image file, optional sketch file (label map or drawing) and target
    pose file (COCO-17 keypoints JSON) for the final frame, seed, and the catalog root its blobs go to."""

    prompt: str
    image_path: str
    image_sha256: str
    blob_root: str
    seed: int = 0
    sketch_path: str | None = None
    pose_path: str | None = None


def generation_id(item: GenerateItem, config: GenerateConfig) -> str:
    """Content id of a request under a config: the same request, seed and config give the same id."""
    key = {"prompt": item.prompt, "image": item.image_sha256, "seed": item.seed,
           "sketch": _sha(item.sketch_path) if item.sketch_path else None, "config": config.model_dump(mode="json")}
    if item.pose_path:  # only when given, so ids of requests without one stay as they were
        key["pose"] = _sha(item.pose_path)
    if is_pipeline_folder(config.checkpoint):  # a folder can be re-exported in place: its files name the model
        key["checkpoint_files"] = folder_fingerprint(Path(config.checkpoint))
    return hashlib.sha256(canonical_json(key).encode()).hexdigest()[:16]


def folder_fingerprint(folder: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime in ns) of every file under a pipeline folder: cheap where hashing gigabytes of
    weights is not, and changed by any rewrite of them."""
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in folder.rglob("*") if p.is_file())


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _read_rgb(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"not a readable image: {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def physics_reasoner() -> Any:
    """The physics context stage's rules reasoner (enhanced prompt, phenomena, categories; no service, no
    weights), or None where that stage is not installed."""
    try:
        from physflow.stages.physics_context import PhysicsContextConfig, build_reasoner
    except ImportError:
        return None
    return build_reasoner(PhysicsContextConfig(backend="rules"))


def _load_prior(ref: PriorRef) -> TemporalPrior:
    data = BlobStore(Root(ref.catalog)).read_bytes(ref.uri)
    if hashlib.sha256(data).hexdigest() != ref.sha256:
        raise ValueError(f"prior {ref.prior_id} at {ref.uri} does not match its sha256 {ref.sha256[:12]}...")
    return load_prior(io.BytesIO(data))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=lambda v: v.item() if hasattr(v, "item") else str(v))


class GenerateStage(Stage[GenerateConfig, GenerateItem]):
    name = "generate"
    VERSION = 2
    Config = GenerateConfig
    table = GENERATIONS
    input_columns = ("prompt", "image_path", "seed", "sketch_path", "pose_path")

    def __init__(self, config: GenerateConfig):
        super().__init__(config)
        self._pipelines: dict[str | None, GenerationPipeline] = {}
        self.priors = Priors()
        self.annotator: CoarseAnnotator | None = None
        self.reasoner: Any = None

    @property
    def device(self) -> str:
        return self.config.device or ("cuda" if torch.cuda.is_available() else "cpu")

    def setup(self) -> None:
        """Train the learned prior once; an embedded tiny generator is built here too."""
        cfg = self.config
        self.priors = self._priors()
        self.annotator = CoarseAnnotator(cfg.annotation) if cfg.annotation.enabled else None
        self.reasoner = physics_reasoner() if cfg.physics_context else None
        if cfg.checkpoint in TINY_CHECKPOINTS:
            self._pipeline(None)

    def _pipeline(self, catalog_root: str | None) -> GenerationPipeline:
        """The pipeline over the configured checkpoint, loaded once (a catalog checkpoint from its catalog)."""
        local = self.config.checkpoint in TINY_CHECKPOINTS or is_pipeline_folder(self.config.checkpoint)
        key = None if local else catalog_root
        if key not in self._pipelines:
            generator = build_generator(self.config.checkpoint, self.config.frames, catalog_root=key).to(self.device)
            self._pipelines[key] = GenerationPipeline(generator, self.config, self.priors, self.annotator)
        return self._pipelines[key]

    def _priors(self) -> Priors:
        """The catalog's trained priors where the flow resolved them; else (unless the source is `catalog`) an
        object prior trained here on synthetic motion."""
        lp = self.config.learned_prior
        if not lp.enabled:
            return Priors()
        objects = _load_prior(lp.objects) if lp.objects else None
        if objects is None and lp.source != "catalog":
            objects = self._train_prior()
        return Priors(objects=objects, bodies=_load_prior(lp.bodies) if lp.bodies else None)

    def _train_prior(self) -> TemporalPrior:
        """The learned object prior, trained on synthetic motion at this config's frames and fps."""
        lp = self.config.learned_prior
        data = synthetic.object_training_set(lp.sequences, max(self.config.frames, 4), self.config.fps, lp.seed)
        prior = TemporalPrior(3, hidden=lp.hidden, scale=2.0)
        train_temporal_prior(prior, data, PriorTraining(steps=lp.steps, seed=lp.seed))
        return prior

    def items(self, inputs: Sequence[GenerateItem]) -> Sequence[GenerateItem]:
        return list(inputs)

    def _identity(self, item: GenerateItem) -> dict[str, Any]:
        cfg = self.config
        return {"generation_id": generation_id(item, cfg), "prompt": item.prompt, "checkpoint_id": cfg.checkpoint,
                "seed": item.seed, "frames": cfg.frames, "width": cfg.width, "height": cfg.height, "fps": cfg.fps,
                "image_sha256": item.image_sha256}

    def process(self, item: GenerateItem) -> Iterable[dict[str, Any]]:
        sketch = cv2.imread(item.sketch_path, cv2.IMREAD_UNCHANGED) if item.sketch_path else None
        if item.sketch_path and sketch is None:
            raise ValueError(f"not a readable sketch image: {item.sketch_path}")
        pose = load_target_pose(item.pose_path) if item.pose_path else None
        context = self.reasoner.reason(item.prompt, item.seed) if self.reasoner is not None else None
        text = context.enhanced_prompt if context is not None else item.prompt
        image = _read_rgb(item.image_path)
        request = GenerateRequest(text, image, item.seed, sketch_labels(sketch, pose, *image.shape[:2]))
        result = self._pipeline(item.blob_root)(request)
        rows = self._rows(item, result)
        if context is not None:
            extra = {"enhanced_prompt": text, "phenomena": list(context.phenomena), "categories": list(context.categories)}
            rows = [{**row, **extra} for row in rows]
        return rows

    def _rows(self, item: GenerateItem, result: GenerationResult) -> list[dict[str, Any]]:
        store = BlobStore(Root(item.blob_root))
        masks = labels_rgb(result.prior.labels)
        videos = {"coarse": result.coarse, "prior": masks, "refined": result.refined}
        with tempfile.TemporaryDirectory(prefix="physflow-generate-") as tmp:
            put = {name: store.put_file(write_video(Path(tmp) / f"{name}.mp4", v, self.config.fps), "mp4")
                   for name, v in videos.items()}
            put = {name: (store.ref(uri), sha) for name, (uri, sha) in put.items()}  # catalog-relative references
            preview_uri = store.ref(store.put_file(write_video(
                Path(tmp) / "preview.mp4", side_by_side(result.coarse, masks, result.refined), self.config.fps), "mp4")[0])
        buf = io.BytesIO()
        np.savez_compressed(buf, labels=result.prior.labels)
        mask_uri = store.ref(store.put_bytes(buf.getvalue(), "npz")[0])
        rows = []
        for phase, name in enumerate(PHASES, 1):
            rows.append({
                **self._identity(item), "stage": name, "phase": phase, "video_uri": put[name][0],
                "video_sha256": put[name][1], "preview_uri": preview_uri, "seconds": result.seconds[name],
                "mask_uri": mask_uri if name == "prior" else None,
                "confidence": result.prior.confidence if name == "prior" else None,
                "metrics": _json(result.measures[name]),
            })
        return rows

    def error_rows(self, item: GenerateItem, reason: str) -> list[dict[str, Any]]:
        return [{**self._identity(item), "stage": "failed", "error": reason}]


def run(inputs: Sequence[GenerateItem], config: GenerateConfig) -> pa.Table:
    return GenerateStage(config).run(inputs)
