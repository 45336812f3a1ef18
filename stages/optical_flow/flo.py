"""Flow files: the Middlebury `.flo` format (one field) and float16 `.npy` flow sequences (one per clip).

`.flo`: float32 magic 202021.25, int32 width, int32 height, then float32 (u, v) interleaved row by row,
little-endian. Values above 1e9 mark unknown pixels in ground-truth files; `end_point_error` leaves them out.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import IO

import numpy as np

FLO_MAGIC = 202021.25
UNKNOWN_FLOW_THRESHOLD = 1e9
_MAX_SIDE = 1 << 16


class FloFormatError(ValueError):
    """A file that is not a well-formed `.flo` flow field."""


def read_flo(path: str | os.PathLike[str]) -> np.ndarray:
    """The H x W x 2 float32 flow (u = x, v = y displacement in pixels) stored in a `.flo` file."""
    data = Path(path).read_bytes()
    if len(data) < 12:
        raise FloFormatError(f"{path}: {len(data)} bytes, too short for a .flo header")
    magic = np.frombuffer(data, "<f4", 1, 0)[0]
    if magic != np.float32(FLO_MAGIC):
        raise FloFormatError(f"{path}: magic {magic!r}, expected {FLO_MAGIC} (not a .flo file)")
    width, height = (int(x) for x in np.frombuffer(data, "<i4", 2, 4))
    if not (0 < width < _MAX_SIDE and 0 < height < _MAX_SIDE):
        raise FloFormatError(f"{path}: implausible size {width} x {height}")
    expected = 12 + width * height * 2 * 4
    if len(data) != expected:
        raise FloFormatError(f"{path}: {len(data)} bytes, expected {expected} for {width} x {height}")
    return np.frombuffer(data, "<f4", width * height * 2, 12).reshape(height, width, 2).astype(np.float32)


def write_flo(path: str | os.PathLike[str], flow: np.ndarray) -> Path:
    """Write an H x W x 2 flow field as a `.flo` file (atomically: temp name, then rename)."""
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"a flow field is H x W x 2, got shape {flow.shape}")
    out = Path(path)
    height, width = flow.shape[:2]
    payload = (
        np.array([FLO_MAGIC], "<f4").tobytes()
        + np.array([width, height], "<i4").tobytes()
        + np.ascontiguousarray(flow, dtype="<f4").tobytes()
    )
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    tmp.write_bytes(payload)
    os.replace(tmp, out)
    return out


def end_point_error(flow: np.ndarray, gt: np.ndarray) -> float:
    """Mean Euclidean distance between `flow` and ground truth `gt` over the pixels whose truth is known."""
    if flow.shape != gt.shape:
        raise ValueError(f"flow shape {flow.shape} differs from ground truth shape {gt.shape}")
    known = np.all(np.abs(gt) < UNKNOWN_FLOW_THRESHOLD, axis=2)
    if not known.any():
        raise ValueError("the ground truth marks every pixel unknown")
    diff = flow[known].astype(np.float64) - gt[known].astype(np.float64)
    return float(np.sqrt((diff**2).sum(axis=1)).mean())


class FlowSequenceWriter:
    """Streams flow fields of one clip into a float16 `.npy` of shape (pairs, H, W, 2), memory bounded.

    Fields go to a temporary raw file as they come; `close` writes the `.npy` header (the count is known
    only then) followed by the raw data.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.count = 0
        self.shape: tuple[int, int] | None = None
        self._raw: IO[bytes] = tempfile.NamedTemporaryFile(dir=self.path.parent, suffix=".raw", delete=False)  # noqa: SIM115

    def write(self, flow: np.ndarray) -> None:
        if self.shape is None:
            self.shape = (flow.shape[0], flow.shape[1])
        elif flow.shape[:2] != self.shape:
            raise ValueError(f"flow field shape {flow.shape[:2]} differs from the sequence's {self.shape}")
        self._raw.write(np.ascontiguousarray(flow, dtype="<f2").tobytes())
        self.count += 1

    def close(self) -> Path:
        self._raw.close()
        try:
            if self.shape is None:
                raise ValueError("no flow fields were written")
            header = {"descr": "<f2", "fortran_order": False, "shape": (self.count, *self.shape, 2)}
            with open(self.path, "wb") as out, open(self._raw.name, "rb") as raw:
                np.lib.format.write_array_header_1_0(out, header)
                shutil.copyfileobj(raw, out, 1 << 20)
        finally:
            os.unlink(self._raw.name)
        return self.path

    def abort(self) -> None:
        self._raw.close()
        Path(self._raw.name).unlink(missing_ok=True)


def read_flow_sequence(path: str | os.PathLike[str]) -> np.ndarray:
    """A clip's flow fields, (pairs, H, W, 2) float16, memory-mapped (read lazily)."""
    return np.load(path, mmap_mode="r")
