"""Synth stages: `synth` renders clips (H.264 MP4 + analytic flow blobs) into `synth_clips`; `synth_truth`
re-simulates each clip (deterministic in scene and seed) into per-object, per-frame `synth_objects` rows."""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.schemas import SYNTH_CLIPS, SYNTH_OBJECTS
from physflow.data_catalog.storage import Root
from physflow.stages.base import Stage
from physflow.stages.common.video_io import write_video
from physflow.stages.synth.config import SynthConfig
from physflow.stages.synth.render import analytic_flow, object_mask, render_frames, rle_encode
from physflow.stages.synth.scenes import Scene, simulate


@dataclass(frozen=True)
class SynthItem:
    """One clip to make: its index in the set, scene kind, seed, and the catalog root whose blob store gets it."""

    index: int
    scene: str
    seed: int
    catalog_root: str


def clip_row(scene: Scene, config: SynthConfig, item: SynthItem, *, uri: str, sha: str, flow_uri: str | None) -> dict:
    """The `synth_clips` row of a rendered scene stored at `uri` (sha256 `sha` of its bytes)."""
    p = scene.params
    video_id = sha[:16]
    return {
        "clip_id": f"{video_id}:0-{scene.n_frames}", "video_id": video_id, "index": item.index, "scene": scene.kind,
        "seed": scene.seed, "uri": uri, "sha256": sha, "width": scene.width, "height": scene.height, "fps": scene.fps,
        "n_frames": scene.n_frames, "ppm": scene.ppm, "g": p.get("g"), "restitution": p.get("restitution"),
        "friction": p.get("friction"), "length_m": p.get("length_m"), "mass": p.get("mass"),
        "params": json.dumps({**p, "events_s": scene.events, "config": config.model_dump(mode="json")}),
        "caption": scene.caption, "flow_uri": flow_uri,
    }


class SynthStage(Stage[SynthConfig, SynthItem]):
    name = "synth"
    VERSION = 2  # 2: uri and flow_uri are catalog-relative blob references
    Config = SynthConfig
    table = SYNTH_CLIPS

    def items(self, inputs: Sequence[SynthItem]) -> Sequence[SynthItem]:
        self._humans = any(it.scene.startswith("human") for it in inputs)
        return list(inputs)

    def setup(self) -> None:
        if getattr(self, "_humans", False):
            from physflow.stages.synth.human import body_model

            body_model()  # build and load the SMPL-format body once per process, before the first human scene

    def process(self, item: SynthItem) -> Iterable[dict[str, Any]]:
        scene = simulate(item.scene, item.seed, self.config)
        blobs = BlobStore(Root(item.catalog_root))
        with tempfile.TemporaryDirectory(prefix="physflow-synth-") as tmp:
            path = write_video(Path(tmp) / "clip.mp4", render_frames(scene), scene.fps, crf=self.config.crf)
            uri, sha = blobs.put_file(path, "mp4")
        uri, flow_uri = blobs.ref(uri), None  # rows hold catalog-relative blob references
        if self.config.flow_every and item.index % self.config.flow_every == 0 and scene.layers is None:
            buf = io.BytesIO()
            np.savez_compressed(buf, flow=analytic_flow(scene).astype(np.float16))
            flow_uri = blobs.ref(blobs.put_bytes(buf.getvalue(), "npz")[0])
        yield clip_row(scene, self.config, item, uri=uri, sha=sha, flow_uri=flow_uri)

    def error_rows(self, item: SynthItem, reason: str) -> list[dict[str, Any]]:
        return [{"clip_id": f"synth:{item.scene}:{item.seed}", "index": item.index, "scene": item.scene,
                 "seed": item.seed, "error": reason}]


def scene_of(clip: dict[str, Any]) -> Scene:
    """The exact scene behind a `synth_clips` row (re-simulated from its scene kind, seed and config)."""
    config = SynthConfig(**json.loads(clip["params"])["config"])
    return simulate(clip["scene"], int(clip["seed"]), config)


def object_rows(clip_id: str, scene: Scene) -> list[dict[str, Any]]:
    """Per object and frame: centre, velocity (px, px/s), radius, mass and the mask as run lengths."""
    rows = []
    for obj in scene.objects:
        for t in range(scene.n_frames):
            body = _body_columns(scene, t) if obj.kind == "human" else {}
            rows.append({**body,
                "clip_id": clip_id, "object_id": obj.object_id, "frame": t, "kind": obj.kind,
                "color": obj.color_name, "hue": obj.hue, "x": float(obj.pos[t, 0]), "y": float(obj.pos[t, 1]),
                "vx": float(obj.vel[t, 0]), "vy": float(obj.vel[t, 1]), "radius": obj.radius_at(t), "mass": obj.mass,
                "visible": obj.shown(t), "mask_rle": rle_encode(object_mask(obj, t, scene.height, scene.width)),
            })
    return rows


def _body_columns(scene: Scene, t: int) -> dict[str, Any]:
    """COCO-17 keypoints (x, y px, visibility 2) and SMPL parameters of a human at frame t."""
    h = scene.human or {}
    if not h:
        return {}
    return {"keypoints": h["keypoints"][t].tolist(), "betas": h["betas"].tolist(),
            "body_pose": h["body_pose"][t].tolist(), "global_orient": h["global_orient"][t].tolist(),
            "transl": h["transl"][t].tolist()}


class SynthTruthStage(Stage[SynthConfig, dict[str, Any]]):
    """Ground truth per object and frame for `synth_clips` rows (the config only versions the cache key)."""

    name = "synth_truth"
    VERSION = 1
    Config = SynthConfig
    table = SYNTH_OBJECTS
    input_columns = ("clip_id", "scene", "seed", "params")

    def items(self, inputs: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
        return [row for row in inputs if not row.get("error")]

    def process(self, item: dict[str, Any]) -> Iterable[dict[str, Any]]:
        return object_rows(item["clip_id"], scene_of(item))

    def error_rows(self, item: dict[str, Any], reason: str) -> list[dict[str, Any]]:
        return [{"clip_id": item["clip_id"], "object_id": -1, "frame": -1, "error": reason}]
