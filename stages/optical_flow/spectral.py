"""Spectral volumes (Generative Image Dynamics): per-pixel FFT over time of displacement trajectories.

The trajectory of the pixel at p in the first frame is D_0 = 0, D_t = D_{t-1} + F_{t-1}(p + D_{t-1}),
the flows chained from the first frame (F sampled bilinearly where the point has moved). Its DFT over T
frames, S_k = (1/T) sum_t D_t exp(-2 pi i k t / T), is kept for the lowest K frequencies and stored float16.
The DFT is accumulated frame by frame, so memory is K fields, not T.
"""

from __future__ import annotations

import io

import cv2
import numpy as np


class TrajectoryChainer:
    """Advects the first frame's pixel grid through consecutive flow fields."""

    def __init__(self, height: int, width: int):
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        self._grid = np.stack([xs, ys], axis=-1)
        self.displacement = np.zeros((height, width, 2), np.float32)  # D_t, starts at D_0 = 0

    def step(self, flow: np.ndarray) -> np.ndarray:
        """D_{t+1} from D_t and the flow from frame t to t+1; returns D_{t+1}."""
        pos = self._grid + self.displacement
        sampled = cv2.remap(
            np.ascontiguousarray(flow, np.float32), pos[..., 0], pos[..., 1],
            interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE,
        )
        self.displacement = self.displacement + sampled
        return self.displacement


class SpectralAccumulator:
    """Running DFT of D_t for t = 0..T-1 at the lowest K frequencies (K <= T // 2 + 1)."""

    def __init__(self, n_frames: int, k: int, height: int, width: int):
        if n_frames < 2:
            raise ValueError(f"a spectral volume needs at least 2 frames, got {n_frames}")
        self.n_frames = n_frames
        self.k = min(k, n_frames // 2 + 1)
        self.t = 0
        self.spectrum = np.zeros((self.k, height, width, 2), np.complex64)

    def add(self, displacement: np.ndarray) -> None:
        if self.t >= self.n_frames:
            raise ValueError(f"more than the declared {self.n_frames} frames")
        phase = np.exp(-2j * np.pi * np.arange(self.k) * self.t / self.n_frames).astype(np.complex64)
        self.spectrum += phase[:, None, None, None] * displacement[None].astype(np.complex64) / self.n_frames
        self.t += 1

    @property
    def complete(self) -> bool:
        return self.t == self.n_frames


def spectral_volume(trajectories: np.ndarray, k: int) -> np.ndarray:
    """(K, H, W, 2) complex spectrum of (T, H, W, 2) trajectories; the batch form of SpectralAccumulator."""
    n = trajectories.shape[0]
    return (np.fft.rfft(trajectories, axis=0)[: min(k, n // 2 + 1)] / n).astype(np.complex64)


def inverse_spectral_volume(spectrum: np.ndarray, n_frames: int) -> np.ndarray:
    """Trajectories (T, H, W, 2) rebuilt from the lowest K frequencies of a real signal of T frames."""
    k = spectrum.shape[0]
    t = np.arange(n_frames)
    weights = np.where((np.arange(k) == 0) | (2 * np.arange(k) == n_frames), 1.0, 2.0)
    basis = weights[None, :] * np.exp(2j * np.pi * np.outer(t, np.arange(k)) / n_frames)  # (T, K)
    flat = spectrum.reshape(k, -1).astype(np.complex128)
    return np.real(basis @ flat).reshape(n_frames, *spectrum.shape[1:]).astype(np.float32)


def to_bytes(spectrum: np.ndarray, n_frames: int) -> bytes:
    """Serialise as `.npz`: `spectrum` float16 (K, H, W, 2 axes, 2 = real/imag) and `n_frames`."""
    packed = np.stack([spectrum.real, spectrum.imag], axis=-1).astype(np.float16)
    buf = io.BytesIO()
    np.savez(buf, spectrum=packed, n_frames=np.int64(n_frames))
    return buf.getvalue()


def from_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """(complex64 spectrum (K, H, W, 2), n_frames) from `to_bytes` output."""
    with np.load(io.BytesIO(data)) as z:
        packed = z["spectrum"].astype(np.float32)
        return (packed[..., 0] + 1j * packed[..., 1]).astype(np.complex64), int(z["n_frames"])
