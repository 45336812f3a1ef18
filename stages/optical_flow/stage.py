"""Optical-flow stage: per kept clip, flow between consecutive frames (DIS or RAFT) at a working width,
stored as three blobs: the flow fields (float16 .npy), the VideoJAM flow-RGB MP4 and the spectral volume.

Frames stream through: at most a RAFT batch of frames, one flow field and K spectral fields are in memory,
whatever the clip length.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.schemas import FLOWS
from physflow.data_catalog.storage import Root
from physflow.models.flow_engines import DisFlow, FlowEngine, pair_flows
from physflow.stages.base import Stage
from physflow.stages.common.flow_encoding import flow_to_rgb
from physflow.stages.common.video_io import iter_frames, probe, write_video
from physflow.stages.optical_flow import spectral
from physflow.stages.optical_flow.config import OpticalFlowConfig
from physflow.stages.optical_flow.flo import FlowSequenceWriter

_MAG_BIN = 0.01  # pixels per histogram bin for the magnitude percentile
_MAG_BINS = 400_000  # up to 4000 px; larger magnitudes land in the last bin


class ClipDecodeError(ValueError):
    """A clip whose frames do not all decode (a corrupt stream, or a range past the end of the video)."""


def _decoded(frames: Iterator[tuple[int, np.ndarray]]) -> Iterator[np.ndarray]:
    n = 0
    try:
        for _, frame in frames:
            n += 1
            yield frame
    except av.FFmpegError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ClipDecodeError(f"decode failed after {n} frames: {exc}") from exc


@dataclass(frozen=True)
class FlowClip:
    """One clip to process: frames [start_frame, end_frame) of the file at `uri`, blobs written under `blob_root`."""

    clip_id: str
    uri: str
    start_frame: int
    end_frame: int
    blob_root: str
    fps: float | None = None


class _ClipSinks:
    """Everything one clip's flow fields feed: the .npy writer, the spectral volume and magnitude statistics."""

    def __init__(self, folder: Path, config: OpticalFlowConfig, spectral_frames: int):
        self.config = config
        self.writer = FlowSequenceWriter(folder / "flow.npy")
        self.spectral_frames = spectral_frames
        self.chainer: spectral.TrajectoryChainer | None = None
        self.spectrum: spectral.SpectralAccumulator | None = None
        self.hist = np.zeros(_MAG_BINS, np.int64)
        self.mag_sum = 0.0
        self.pixels = 0

    def consume(self, flow: np.ndarray) -> np.ndarray:
        """Record one flow field; returns its flow-RGB frame."""
        h, w = flow.shape[:2]
        if self.spectrum is None:
            self.chainer = spectral.TrajectoryChainer(h, w)
            self.spectrum = spectral.SpectralAccumulator(self.spectral_frames, self.config.spectral_k, h, w)
            self.spectrum.add(self.chainer.displacement)
        if self.chainer is not None and not self.spectrum.complete:
            self.spectrum.add(self.chainer.step(flow))
        self.writer.write(flow)
        mag = np.hypot(flow[..., 0], flow[..., 1])
        self.mag_sum += float(mag.sum(dtype=np.float64))
        self.pixels += mag.size
        self.hist += np.bincount(np.minimum((mag / _MAG_BIN).astype(np.int64), _MAG_BINS - 1).ravel(),
                                 minlength=_MAG_BINS)
        return flow_to_rgb(flow, self.config.sigma, self.config.background)

    def magnitude_stats(self) -> tuple[float, float]:
        """(mean, 90th percentile) of |flow| over every pixel of every pair, in working-resolution pixels."""
        p90_bin = int(np.searchsorted(np.cumsum(self.hist), 0.9 * self.pixels))
        return self.mag_sum / self.pixels, (p90_bin + 0.5) * _MAG_BIN


class OpticalFlowStage(Stage[OpticalFlowConfig, FlowClip]):
    name = "optical_flow"
    VERSION = 2  # 2: flow, flow RGB and spectral uris are catalog-relative blob references
    Config = OpticalFlowConfig
    table = FLOWS
    input_columns = ("clip_id", "video_id", "start_frame", "end_frame", "clip_uri", "uri")

    def __init__(self, config: OpticalFlowConfig):
        super().__init__(config)
        self.engine: FlowEngine | None = None

    def _raft_path(self) -> Path:
        if self.config.raft_weights is None:
            raise FileNotFoundError("optical_flow method 'raft' needs raft_weights (the registry name 'raft'); "
                                    "without weights use method 'dis'")
        path = Path(self.config.raft_weights)
        if not path.is_file():
            raise FileNotFoundError(f"optical_flow raft_weights {path} does not exist")
        return path

    def setup(self) -> None:
        if self.config.method == "dis":
            self.engine = DisFlow(self.config.dis_preset)
            return
        import torch

        from physflow.models.raft import RaftFlow, load_raft

        device = self.config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.engine = RaftFlow(load_raft(self._raft_path(), self.config.raft_model), device, self.config.raft_iters)

    @property
    def variant(self) -> str:
        return self.config.dis_preset if self.config.method == "dis" else self.config.raft_model

    def items(self, inputs: Sequence[FlowClip]) -> Sequence[FlowClip]:
        return list(inputs)

    def process(self, item: FlowClip) -> Iterable[dict[str, Any]]:
        cfg = self.config
        n_frames = item.end_frame - item.start_frame
        if n_frames < 2:
            raise ValueError(f"clip has {n_frames} frame(s); flow needs at least 2")
        fps = item.fps or probe(item.uri, decode="none").fps or 30.0
        store = BlobStore(Root(item.blob_root))
        with tempfile.TemporaryDirectory(prefix="physflow-flow-") as tmp:
            sinks = _ClipSinks(Path(tmp), cfg, min(n_frames, cfg.spectral_frames))
            frames = _decoded(iter_frames(item.uri, start=item.start_frame, end=item.end_frame, width=cfg.width))
            flows = pair_flows(frames, self.engine, cfg.raft_batch if cfg.method == "raft" else 1)  # type: ignore[arg-type]
            try:
                rgb_path = write_video(Path(tmp) / "flow_rgb.mp4", (sinks.consume(f) for f in flows), fps,
                                       crf=cfg.rgb_crf)
            except BaseException:
                sinks.writer.abort()
                raise
            flow_path = sinks.writer.close()
            if sinks.writer.count + 1 < n_frames:
                raise ClipDecodeError(f"clip ended after {sinks.writer.count + 1} of {n_frames} frames")
            flow_uri, flow_sha = store.put_file(flow_path, "npy")
            rgb_uri, rgb_sha = store.put_file(rgb_path, "mp4")
        assert sinks.spectrum is not None
        spec_uri, spec_sha = store.put_bytes(spectral.to_bytes(sinks.spectrum.spectrum, sinks.spectral_frames), "npz")
        mag_mean, mag_p90 = sinks.magnitude_stats()
        height, width = sinks.writer.shape or (None, None)
        yield {
            "clip_id": item.clip_id, "method": cfg.method, "variant": self.variant, "width": width,
            "height": height, "n_pairs": sinks.writer.count, "flow_uri": store.ref(flow_uri), "flow_sha256": flow_sha,
            "flow_rgb_uri": store.ref(rgb_uri), "flow_rgb_sha256": rgb_sha, "spectral_uri": store.ref(spec_uri),
            "spectral_sha256": spec_sha, "spectral_frames": sinks.spectral_frames,
            "spectral_k": sinks.spectrum.k, "mag_mean": mag_mean, "mag_p90": mag_p90,
        }

    def error_rows(self, item: FlowClip, reason: str) -> list[dict[str, Any]]:
        return [{"clip_id": item.clip_id, "method": self.config.method, "variant": self.variant, "error": reason}]


def run(inputs: Sequence[FlowClip], config: OpticalFlowConfig) -> pa.Table:
    return OpticalFlowStage(config).run(inputs)
