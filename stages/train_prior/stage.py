"""train_prior: object trajectories and body-pose sequences of the catalog -> two learned temporal priors.

The learned term of generation's phase 2 (ReVision's parameterised prior) is a small temporal denoiser per
kind of motion (models/physics_prior.py). This stage trains it on what the annotation stages found in real
clips, in the units phase 2 optimises in:
- objects: the detect stage's non-person tracks (fragments stitched), box centres lifted to metres by the
  same orthographic side view as phase 2 (`metres_high` per frame), as velocities (m/s) per frame;
- bodies: the body_fit stage's SMPL fits, turned into the y-up world as in phase 2, as pelvis velocity plus
  joints relative to the pelvis (optimise.body_features).
Each track is cut into windows of `window` frames; one window in 1/heldout is kept out to measure how much
the trained denoiser reduces jitter it has not seen (`heldout_gain`, 1 = all of it). One row per kind; a kind
with too few windows is a row saying so, without weights.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.keys import canonical_json
from physflow.data_catalog.schemas import PHYSICS_PRIORS
from physflow.data_catalog.storage import Root
from physflow.models.physics_prior import PriorTraining, TemporalPrior, save_prior, train_temporal_prior
from physflow.stages.base import Stage
from physflow.stages.common.prior.bodies import body_tracks
from physflow.stages.common.prior.optimise import body_features
from physflow.stages.common.prior.scene import Camera
from physflow.stages.common.prior.tracks import detection_tracks
from physflow.stages.train_prior.config import TrainPriorConfig

OBJECTS, BODIES = "objects", "bodies"
SCALES = {OBJECTS: 2.0, BODIES: 1.0}  # feature units per network unit (m/s; m/s and m)


@dataclass(frozen=True)
class ClipInfo:
    n_frames: int
    width: int
    height: int
    fps: float


@dataclass(frozen=True)
class AnnotationSet:
    """The catalog's detections and body fits with the size and frame rate of each clip they annotate."""

    detections: pa.Table
    body_fits: pa.Table
    clips: dict[str, ClipInfo]
    blob_root: str


@dataclass
class Windows:
    sequences: list[np.ndarray]  # each [window - 1, C]
    tracks: int = 0
    clips: int = 0
    fps: list[float] | None = None


def _windows(features: np.ndarray, window: int, hop: int) -> list[np.ndarray]:
    """Windows of `window - 1` steps (a window of frames) of per-step features [T - 1, C]."""
    steps = window - 1
    return [features[s:s + steps] for s in range(0, features.shape[0] - steps + 1, hop)]


def _by_clip(table: pa.Table) -> dict[str, pa.Table]:
    if table.num_rows == 0:
        return {}
    ids = table.column("clip_id").to_pylist()
    rows: dict[str, list[int]] = defaultdict(list)
    for i, clip_id in enumerate(ids):
        rows[clip_id].append(i)
    return {c: table.take(idx) for c, idx in rows.items()}


class TrainPriorStage(Stage[TrainPriorConfig, AnnotationSet]):
    name = "train_prior"
    VERSION = 1
    Config = TrainPriorConfig
    table = PHYSICS_PRIORS
    input_columns = ("clip_id", "frame", "track_id", "cls", "box", "global_orient", "body_pose", "transl")

    def __init__(self, config: TrainPriorConfig):
        super().__init__(config)
        self.body_model: Any = None

    def setup(self) -> None:
        from physflow.models.body_model import open_body_model

        # the body model, for the rest joints of each fitted shape
        self.body_model = open_body_model(self.config.body_model.path if self.config.body_model else None, "smpl")

    def items(self, inputs: Sequence[AnnotationSet]) -> Sequence[AnnotationSet]:
        return list(inputs)

    def count_in(self, inputs: Sequence[AnnotationSet], items: Sequence[AnnotationSet]) -> int:
        return sum(i.detections.num_rows + i.body_fits.num_rows for i in items)

    def object_windows(self, data: AnnotationSet) -> Windows:
        cfg, out = self.config, Windows([], fps=[])
        for clip_id, table in sorted(_by_clip(data.detections).items()):
            info = data.clips.get(clip_id)
            if info is None:
                continue
            tracks = detection_tracks(table, info.n_frames, info.width, max_objects=cfg.max_objects,
                                      min_frames=2)
            camera = Camera.for_frame(info.width, info.height, cfg.metres_high)
            found = 0
            for i in range(tracks.centres.shape[1]):
                seen = np.flatnonzero(tracks.seen[:, i])
                span = camera.to_world(tracks.centres[seen[0]:seen[-1] + 1, i])  # [T, 3]
                wins = _windows(np.diff(span, axis=0) * info.fps, cfg.window, cfg.hop)
                out.sequences += wins
                found += bool(wins)
            out.tracks += found
            out.clips += found > 0
            out.fps += [info.fps] * found
        return out

    def body_windows(self, data: AnnotationSet) -> Windows:
        cfg, out = self.config, Windows([], fps=[])
        for clip_id, table in sorted(_by_clip(data.body_fits).items()):
            info = data.clips.get(clip_id)
            if info is None:
                continue
            people, _ = body_tracks(table, self.body_model, min_frames=cfg.window, n_frames=info.n_frames)
            for person in people:
                features = body_features(torch.as_tensor(person.joints()), info.fps)[0].numpy()
                out.sequences += _windows(features, cfg.window, cfg.hop)
            out.tracks += len(people)
            out.clips += bool(people)
            out.fps += [info.fps] * len(people)
        return out

    def process(self, item: AnnotationSet) -> Iterable[dict[str, Any]]:
        return [self._train(OBJECTS, self.object_windows(item), item), self._train(BODIES, self.body_windows(item), item)]

    def _train(self, kind: str, found: Windows, item: AnnotationSet) -> dict[str, Any]:
        cfg = self.config
        row: dict[str, Any] = {"prior_id": f"{kind}-none", "kind": kind, "window": cfg.window,
                               "sequences": len(found.sequences), "tracks": found.tracks, "clips": found.clips,
                               "fps_mean": float(np.mean(found.fps)) if found.fps else None,
                               "config": canonical_json(cfg.model_dump(mode="json"))}
        if len(found.sequences) < cfg.min_sequences:
            return {**row, "error": f"only {len(found.sequences)} {kind} windows of {cfg.window} frames in the "
                                    f"catalog's annotations (min_sequences {cfg.min_sequences})"}
        data = np.stack(found.sequences)
        if len(data) > cfg.max_sequences:
            data = data[np.linspace(0, len(data) - 1, cfg.max_sequences).round().astype(int)]
        every = max(2, round(1 / cfg.heldout)) if cfg.heldout > 0 else 0
        held = np.zeros(len(data), bool)
        if every and len(data) > every:
            held[::every] = True
        train = torch.as_tensor(data[~held], dtype=torch.float32)
        torch.manual_seed(cfg.seed)
        model = TemporalPrior(data.shape[2], hidden=cfg.hidden, scale=SCALES[kind])
        training = PriorTraining(steps=cfg.steps, batch=cfg.batch, lr=cfg.lr, noise=cfg.noise, seed=cfg.seed)
        losses = train_temporal_prior(model, train, training)
        buf = io.BytesIO()
        save_prior(model, buf)
        store = BlobStore(Root(item.blob_root))
        uri, sha = store.put_bytes(buf.getvalue(), "pt")
        uri = store.ref(uri)  # a catalog-relative reference, as every table holds blobs
        gain = denoising_gain(model, torch.as_tensor(data[held], dtype=torch.float32), cfg.noise, cfg.seed) \
            if held.any() else None
        return {**row, "prior_id": f"{kind}-{sha[:16]}", "channels": int(data.shape[2]), "steps": cfg.steps,
                "loss_first": losses[0], "loss_last": float(np.mean(losses[-10:])), "heldout_gain": gain,
                "uri": uri, "sha256": sha}

    def error_rows(self, item: AnnotationSet, reason: str) -> list[dict[str, Any]]:
        return [{"prior_id": "failed", "kind": "failed", "error": reason}]


def denoising_gain(model: TemporalPrior, clean: torch.Tensor, noise: float, seed: int) -> float:
    """1 - |D(x + e) - x|^2 / |e|^2 on windows the prior did not see: the share of added jitter it removes."""
    gen = torch.Generator().manual_seed(seed + 1)
    jitter = torch.randn(clean.shape, generator=gen) * noise * model.scale
    with torch.no_grad():
        after = ((model(clean + jitter) - clean) ** 2).mean()
    return round(float(1 - after / (jitter**2).mean()), 6)


def run(inputs: Sequence[AnnotationSet], config: TrainPriorConfig) -> pa.Table:
    return TrainPriorStage(config).run(inputs)
