"""The torch Dataset over a training snapshot: decodes clip and flow-RGB blobs with video_io, samples frames,
resizes and center-crops, and yields video, flow RGB, part masks with confidence, prompt and WISA labels."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from physflow.models.wisa import multi_hot, quantity_vector
from physflow.stages.common.video_io import iter_frames
from physflow.stages.train.data.snapshot import DataConfig, TrainingSnapshot


def _fit(frame: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    """Resize the short side to `size`, then center-crop to size x size."""
    h, w = frame.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    out = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)
    y, x = (nh - size) // 2, (nw - size) // 2
    return out[y : y + size, x : x + size]


def _read_mask(uri: str) -> np.ndarray:
    """A uint8 label map from a .npy or image file (0 = none, 1..P parts)."""
    if uri.endswith(".npy"):
        return np.load(uri).astype(np.uint8)
    mask = cv2.imread(uri, cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise ValueError(f"cannot read part mask {uri}")
    return mask if mask.ndim == 2 else mask[..., 0]


def _to_tensor(frames: list[np.ndarray]) -> torch.Tensor:
    """RGB uint8 frames -> [3, F, H, W] float in [-1, 1]."""
    arr = np.stack(frames).astype(np.float32) / 127.5 - 1.0  # [F, H, W, 3]
    return torch.from_numpy(arr).permute(3, 0, 1, 2).contiguous()


class TrainDataset(Dataset):
    """One item per snapshot row; frames start at a position drawn from (seed, epoch, index)."""

    def __init__(self, snapshot: TrainingSnapshot, config: DataConfig, seed: int = 0):
        self.rows, self.config, self.seed, self.epoch = snapshot.rows, config, seed, 0
        self._frames: dict[str, list[np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _decoded(self, uri: str, nearest: bool = False) -> list[np.ndarray]:
        if uri not in self._frames:  # clips are short at training size: decode each once per worker
            self._frames[uri] = [_fit(f, self.config.size, nearest) for _, f in iter_frames(uri)]
        return self._frames[uri]

    def _indices(self, n_available: int, index: int) -> list[int]:
        span = (self.config.frames - 1) * self.config.stride + 1
        rng = np.random.default_rng((self.seed, self.epoch, index))
        start = int(rng.integers(0, max(1, n_available - span + 1)))
        return [min(start + i * self.config.stride, n_available - 1) for i in range(self.config.frames)]

    def __getitem__(self, index: int) -> dict[str, Any]:
        row, cfg = self.rows[index], self.config
        frames = self._decoded(row["clip_uri"])
        if not frames:
            raise ValueError(f"clip {row['clip_id']} decodes to no frame")
        idx = self._indices(len(frames), index)
        video = _to_tensor([frames[i] for i in idx])
        flow = torch.zeros_like(video)
        if row.get("flow_rgb_uri"):
            flow_frames = self._decoded(row["flow_rgb_uri"])
            flow = _to_tensor([flow_frames[min(i, len(flow_frames) - 1)] for i in idx])
        masks = torch.zeros(cfg.frames, cfg.size, cfg.size)
        conf = torch.zeros(cfg.frames)
        by_frame = {m["frame"]: m for m in row.get("masks") or []}
        for j, i in enumerate(idx):
            if i in by_frame:
                label = _fit(_read_mask(by_frame[i]["mask_uri"]), cfg.size, nearest=True)
                masks[j] = torch.from_numpy(label.astype(np.float32)) / cfg.max_parts
                conf[j] = float(by_frame[i]["confidence"] if by_frame[i]["confidence"] is not None else 1.0)
        return {
            "clip_id": row["clip_id"], "video": video, "flow": flow,
            "has_flow": bool(row.get("flow_rgb_uri")), "masks": masks, "mask_conf": conf,
            "prompt": row.get("prompt") or "", "phenomena": multi_hot(list(row.get("categories") or [])),
            "quantities": quantity_vector(row.get("quantities") or {}),
        }
