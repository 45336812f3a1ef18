"""part_masks: per sampled frame, a uint8 part label map (`part_masks`, PNG blobs) and a preview per clip.

Each fitted body is posed with its fit (SMPL-X: with its fitted hands), projected through its fit's camera and
rasterised z-ordered; a pixel's label is the body part (SMPL joint + 1, from the skinning weights; SMPL-X's
fingers are the left / right hand labels) of the nearest face. People's hands without a fit in a frame are
their hand landmarks' convex hulls, with the same hand labels. Non-person
tracks, and persons without a fit, are painted beneath as their own labels (OBJECT_BASE + n) from their
masks, or their boxes when they have none. Body labels outside the pose stage's person masks (dilated a
little) are cleared, so a fit's limbs do not spill over the background. Confidence is 1.0 for a map with
labels, 0.0 for an empty one. The preview is a contact sheet of a few frames: part colours, boxes with
track ids, skeletons and hands.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.schemas import PART_MASKS
from physflow.data_catalog.storage import Root
from physflow.stages.base import Stage
from physflow.stages.common.annotation import (
    HANDS_ONLY,
    OBJECT_BASE,
    PERSON,
    AnnotatedShard,
    ClipRef,
    ClipWork,
    clip_error,
    clip_items,
    rle_decode,
)
from physflow.stages.part_masks.config import PartMasksConfig
from physflow.stages.part_masks.hands import LEFT_HAND, RIGHT_HAND, paint_hand_hulls

_PALETTE = np.random.default_rng(7).integers(40, 256, (256, 3)).astype(np.uint8)
_PALETTE[LEFT_HAND], _PALETTE[RIGHT_HAND] = (255, 200, 0), (0, 200, 255)  # the sheet's hand skeleton colours


class PartMasksStage(Stage[PartMasksConfig, ClipWork]):
    name = "part_masks"
    # 2: mask_uri and preview_uri are catalog-relative blob references; 3: person-mask trim, sheets;
    # 4: hands as the left / right hand labels (fitted SMPL-X fingers, else the hand landmarks' hull)
    VERSION = 4
    Config = PartMasksConfig
    table = PART_MASKS
    input_columns = ("clip_id", "frame", "track_id", "cls", "box", "mask_rle", "global_orient", "body_pose")
    # also read when present: the fits' hand poses, the pose rows' person masks and hand landmarks

    def __init__(self, config: PartMasksConfig):
        super().__init__(config)
        self.model: Any = None

    def setup(self) -> None:
        from physflow.models.body_model import JOINT_NAMES, open_body_model
        from physflow.models.rasterize import face_labels
        from physflow.stages.part_masks.hands import joint_labels

        path = self.config.body_model.path if self.config.body_model else None
        self.model = open_body_model(path, self.config.model, num_betas=self.config.num_betas)
        self.faces = np.asarray(self.model.faces, np.int64)
        parts = self.model.lbs_weights.argmax(dim=1).numpy()
        labels = joint_labels(self.model.J_regressor.shape[0])  # SMPL's label set for SMPL and SMPL-X alike
        self.face_labels = face_labels(labels[parts], self.faces).astype(np.uint8)
        self.part_names = {j + 1: name for j, name in enumerate(JOINT_NAMES)}

    def items(self, inputs: Sequence[AnnotatedShard]) -> Sequence[ClipWork]:
        return clip_items(inputs)

    def _posed(self, fits: list[dict[str, Any]]) -> np.ndarray:
        """(N, V, 3) camera-space vertices of each fit row."""
        import torch

        from physflow.models.smplify import body_forward, torch_threads

        if not fits:
            return np.zeros((0, 0, 3))
        t = lambda key: torch.tensor([f[key] for f in fits], dtype=torch.float32)  # noqa: E731
        hands = {}
        if hasattr(self.model, "left_hand_pose"):  # SMPL-X: fitted hands, rest hands for fits without them
            for side in ("left_hand_pose", "right_hand_pose"):
                hands[side] = torch.tensor([f.get(side) or [0.0] * 45 for f in fits], dtype=torch.float32)
        with torch.no_grad(), torch_threads(self.config.threads):
            out = body_forward(self.model, t("betas"), t("global_orient"), t("body_pose"), t("transl"), **hands)
        return out.vertices.numpy()

    def render(self, clip: ClipRef, frame: int, fits: list[tuple[dict[str, Any], np.ndarray]],
               objects: list[tuple[int, dict[str, Any]]]) -> np.ndarray:
        """The label map of one frame at the working size."""
        from physflow.models.rasterize import rasterize_labels

        size = clip.working_size(self.config.sampling)
        base = np.zeros(size, np.uint8)
        for label, det in objects:
            if det.get("mask_rle"):
                mask = rle_decode(det["mask_rle"])
                if mask.shape != size:
                    mask = cv2.resize(mask.astype(np.uint8), size[::-1], interpolation=cv2.INTER_NEAREST) > 0
                base[mask] = label
            else:
                x1, y1, x2, y2 = (np.asarray(det["box"]) / clip.scale(self.config.sampling)).round().astype(int)
                base[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = label
        if not fits:
            return base
        camera = np.asarray(fits[0][0]["camera"], float)
        meshes = [(verts, self.faces, self.face_labels) for _, verts in fits]
        return rasterize_labels(meshes, camera, size, base)

    def process(self, item: ClipWork) -> Iterable[dict[str, Any]]:
        clip, cfg = item.clip, self.config
        if item.blob_root is None:
            raise ValueError("part_masks needs a blob root to store its maps")
        blobs = BlobStore(Root(item.blob_root))
        fit_rows = item.rows.get("body_fits", [])
        posed = self._posed(fit_rows)
        fits_at: dict[int, list[tuple[dict[str, Any], np.ndarray]]] = defaultdict(list)
        for row, verts in zip(fit_rows, posed, strict=False):
            fits_at[row["frame"]].append((row, verts))
        objects_at, names = self._objects(item.rows.get("detections", []), fits_at) if cfg.objects else ({}, {})
        poses_at: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in item.rows.get("poses", []):
            poses_at[row["frame"]].append(row)
        rows, maps = [], {}
        for frame in clip.sampled(cfg.sampling):
            label_map = self.render(clip, frame, fits_at.get(frame, []), objects_at.get(frame, []))
            fitted = {row["track_id"] for row, _ in fits_at.get(frame, [])}
            unfitted = [p for p in poses_at.get(frame, []) if p["track_id"] not in fitted]
            bodies = [p for p in unfitted if p.get("source") != HANDS_ONLY]
            if cfg.hand_hulls:
                label_map = paint_hand_hulls(label_map, bodies, 1.0 / clip.scale(cfg.sampling))
            if cfg.trim_by_person_mask:
                label_map = _trim(label_map, poses_at.get(frame, []))
            if cfg.hand_hulls:  # hands without a body have no person mask to be trimmed by
                label_map = paint_hand_hulls(label_map, [p for p in unfitted if p.get("source") == HANDS_ONLY],
                                             1.0 / clip.scale(cfg.sampling))
            maps[frame] = label_map
            _, png = cv2.imencode(".png", label_map)
            ref = blobs.ref(blobs.put_bytes(png.tobytes(), "png")[0])
            present = [int(v) for v in np.flatnonzero(np.bincount(label_map.ravel(), minlength=256)) if v]
            rows.append({
                "clip_id": clip.clip_id, "frame": frame, "mask_uri": ref, "confidence": 1.0 if present else 0.0,
                "width": label_map.shape[1], "height": label_map.shape[0],
                "labels": json.dumps({str(v): {**self.part_names, **names}.get(v, "?") for v in present}),
            })
        if not rows:
            return clip_error(clip, "clip has no frames to mask")
        if cfg.preview:
            preview = self._sheet(clip, maps, item.rows.get("detections", []), poses_at, blobs)
            for row in rows:
                row["preview_uri"] = preview
        return rows

    def _objects(self, detections: list[dict[str, Any]], fits_at: dict[int, Any]
                 ) -> tuple[dict[int, list[tuple[int, dict[str, Any]]]], dict[int, str]]:
        """Per frame, the (label, detection) of each non-person track and each person without a fit there."""
        fitted = {(f, row["track_id"]) for f, items in fits_at.items() for row, _ in items}
        chosen = [d for d in detections if d["cls"] != PERSON or (d["frame"], d["track_id"]) not in fitted]
        tracks = sorted({d["track_id"] for d in chosen})[: 256 - OBJECT_BASE]
        label_of = {tid: OBJECT_BASE + i for i, tid in enumerate(tracks)}
        names = {}
        out: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        for d in sorted(chosen, key=lambda d: -(d["box"][2] - d["box"][0]) * (d["box"][3] - d["box"][1])):
            if d["track_id"] in label_of:  # larger first, so smaller objects stay visible on top
                out[d["frame"]].append((label_of[d["track_id"]], d))
                names[label_of[d["track_id"]]] = f"{d['cls']}#{d['track_id']}"
        return out, names

    def _sheet(self, clip: ClipRef, maps: dict[int, np.ndarray], detections: list[dict[str, Any]],
               poses_at: dict[int, list[dict[str, Any]]], blobs: BlobStore) -> str | None:
        """PNG contact sheet of up to `sheet_frames` evenly spaced frames; None when none decodes."""
        from physflow.stages.part_masks.sheet import draw_frame, tile

        frames = sorted(maps)
        n = min(self.config.sheet_frames, len(frames))
        chosen = {frames[round(i * (len(frames) - 1) / max(n - 1, 1))] for i in range(n)}
        scale = 1.0 / clip.scale(self.config.sampling)
        dets_at: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for d in detections:
            dets_at[d["frame"]].append(d)
        drawn = [draw_frame(image, maps[index], _PALETTE, alpha=self.config.preview_alpha, scale=scale,
                            detections=dets_at[index], poses=poses_at.get(index, []))
                 for index, image in clip.frames(self.config.sampling) if index in chosen]
        if not drawn:
            return None
        _, png = cv2.imencode(".png", cv2.cvtColor(tile(drawn), cv2.COLOR_RGB2BGR))
        return blobs.ref(blobs.put_bytes(png.tobytes(), "png")[0])

    def error_rows(self, item: ClipWork, reason: str) -> list[dict[str, Any]]:
        return clip_error(item.clip, reason)


def run(inputs: Sequence[AnnotatedShard], config: PartMasksConfig) -> pa.Table:
    return PartMasksStage(config).run(inputs)


def _trim(label_map: np.ndarray, poses: list[dict[str, Any]], grow_px: int = 3) -> np.ndarray:
    """Body labels (1 .. OBJECT_BASE - 1) outside every person mask of the frame's pose rows cleared; the map
    unchanged when no row has a mask."""
    masks = [rle_decode(p["mask_rle"]) for p in poses if p.get("mask_rle")]
    if not masks:
        return label_map
    person = np.zeros(label_map.shape, np.uint8)
    for m in masks:
        person |= cv2.resize(m.astype(np.uint8), label_map.shape[::-1], interpolation=cv2.INTER_NEAREST)
    person = cv2.dilate(person, np.ones((2 * grow_px + 1,) * 2, np.uint8)) > 0
    body = (label_map > 0) & (label_map < OBJECT_BASE)
    out = label_map.copy()
    out[body & ~person] = 0
    return out
