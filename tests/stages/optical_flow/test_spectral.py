"""Spectral volumes: a synthetic sinusoidal motion rebuilt from its lowest K frequencies."""

from __future__ import annotations

import numpy as np
import pytest

from physflow.stages.optical_flow import spectral


def _sinusoid(n_frames=48, h=12, w=16):
    """Trajectories D_t(p) = A(p) sin(2 pi f t / T + phi(p)) with f in 1..3 cycles per clip, plus a drift."""
    t = np.arange(n_frames)[:, None, None, None]
    ys, xs = np.mgrid[0:h, 0:w]
    amp = 1.0 + 0.1 * xs[None, :, :, None]
    phase = 0.3 * ys[None, :, :, None] + np.array([0.0, 1.0])
    freq = np.array([2.0, 3.0])
    traj = amp * (np.sin(2 * np.pi * freq * t / n_frames + phase) - np.sin(phase)) + 0.5 * np.sin(2 * np.pi * t / n_frames)
    return traj.astype(np.float32)


def test_sinusoidal_motion_rebuilt_from_spectral_volume():
    traj = _sinusoid()
    spec = spectral.spectral_volume(traj, k=16)
    assert spec.shape == (16, 12, 16, 2)
    data = spectral.to_bytes(spec, traj.shape[0])
    loaded, n = spectral.from_bytes(data)
    rebuilt = spectral.inverse_spectral_volume(loaded, n)
    assert rebuilt.shape == traj.shape
    assert np.abs(rebuilt - traj).max() < 0.02 * np.abs(traj).max()  # float16 storage


def test_few_frequencies_low_pass():
    traj = _sinusoid()
    rebuilt = spectral.inverse_spectral_volume(spectral.spectral_volume(traj, k=2), traj.shape[0])
    assert np.abs(rebuilt - traj).max() > 0.5  # the 2 and 3 cycle components are dropped


def test_streamed_chain_matches_batch_fft():
    """Uniform per-frame flows chain to the trajectory; the running DFT equals numpy's rfft."""
    traj = _sinusoid(n_frames=20, h=6, w=8)
    uniform = np.broadcast_to(traj[:, :1, :1, :], traj.shape).copy()  # same motion everywhere
    chainer = spectral.TrajectoryChainer(6, 8)
    acc = spectral.SpectralAccumulator(20, 16, 6, 8)
    acc.add(chainer.displacement)
    for t in range(1, 20):
        acc.add(chainer.step(uniform[t] - uniform[t - 1]))
    assert acc.complete and acc.k == 11  # K is capped at T // 2 + 1
    np.testing.assert_allclose(acc.spectrum, spectral.spectral_volume(uniform, 16), atol=1e-4)
    with pytest.raises(ValueError, match="more than"):
        acc.add(chainer.displacement)


def test_chaining_follows_a_moving_point():
    """A field that moves points right by 1 px where x < 4 and down by 1 px elsewhere."""
    flow = np.zeros((8, 8, 2), np.float32)
    flow[:, :4, 0] = 1.0
    flow[:, 4:, 1] = 1.0
    chainer = spectral.TrajectoryChainer(8, 8)
    for _ in range(3):
        chainer.step(flow)
    np.testing.assert_allclose(chainer.displacement[2, 2], [2.0, 1.0])  # x 2->3->4, then down once
    np.testing.assert_allclose(chainer.displacement[0, 6], [0.0, 3.0])
