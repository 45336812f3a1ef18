"""ultralytics YOLO (detect, segment, pose) loaded from a local .pt file, with nothing reaching the network.

`prepare_ultralytics` runs before the first `import ultralytics`: offline mode, no auto-install, settings
sync off, and a local TrueType font as Arial.ttf in ultralytics' config folder (plotting otherwise
downloads one). The tracker is ultralytics' own ByteTrack (its bundled bytetrack.yaml).
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "C:/Windows/Fonts")


def _local_font() -> Path | None:
    for folder in _FONT_DIRS:
        found = sorted(glob.glob(f"{folder}/**/*.ttf", recursive=True))
        if found:
            return Path(found[0])
    try:
        import cv2

        found = sorted(glob.glob(str(Path(cv2.__file__).parent / "**" / "*.ttf"), recursive=True))
        return Path(found[0]) if found else None
    except ImportError:
        return None


def prepare_ultralytics(config_dir: str | os.PathLike[str] | None = None) -> Path:
    """Set ultralytics up to run offline; returns its config folder. Call before importing ultralytics."""
    folder = Path(config_dir or os.environ.get("YOLO_CONFIG_DIR") or Path.home() / ".cache" / "physflow")
    os.environ["YOLO_CONFIG_DIR"] = str(folder)
    os.environ["YOLO_OFFLINE"] = "true"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.setdefault("YOLO_VERBOSE", "false")
    font = folder / "Ultralytics" / "Arial.ttf"
    if not font.exists():
        source = _local_font()
        if source is not None:
            font.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, font)
    from ultralytics.utils import SETTINGS

    if SETTINGS.get("sync", True):
        SETTINGS.update({"sync": False})
    return folder


SUPPORTED_FORMATS = (
    "an ultralytics checkpoint (.pt saved by the ultralytics package: YOLOv8, YOLO11, YOLOv5u ...), a model yaml, "
    "or an ultralytics export (.onnx, .torchscript, .tflite, OpenVINO folder)"
)


class UnsupportedCheckpointError(ValueError):
    """A weights file the ultralytics package cannot load (named, with the formats it can)."""


def pickled_modules(path: str | os.PathLike[str]) -> set[str]:
    """The top-level module names a torch .pt checkpoint's pickle refers to, read without unpickling anything."""
    import pickletools
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
            data = archive.read(name) if name else b""
    except (zipfile.BadZipFile, OSError):
        return set()
    modules, strings = set(), []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in {"SHORT_BINUNICODE", "BINUNICODE", "UNICODE"}:
                strings.append(str(arg))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                modules.add(strings[-2])
            elif op.name == "GLOBAL":
                modules.add(str(arg).split(" ")[0])
    except Exception:  # a damaged pickle: let the loader report it
        return modules
    return modules


def check_ultralytics_checkpoint(path: str | os.PathLike[str]) -> None:
    """Fail, naming the file and the supported formats, when a .pt was saved by the YOLOv5 repository (it pickles
    that repository's `models.yolo` classes, which the ultralytics package does not have)."""
    if Path(path).suffix != ".pt":
        return
    roots = {m.split(".")[0] for m in pickled_modules(path)}
    if "models" in roots and "ultralytics" not in roots:
        raise UnsupportedCheckpointError(
            f"{path} is a checkpoint of the YOLOv5 repository (it pickles classes of that repository's `models` "
            f"package), which the ultralytics package cannot load. Supported: {SUPPORTED_FORMATS}. Re-export it "
            "with the YOLOv5 repository (export.py --include onnx) or use a YOLOv5u/YOLOv8/YOLO11 checkpoint.")


def load_yolo(path: str | os.PathLike[str]):  # type: ignore[no-untyped-def]
    """An ultralytics YOLO model from a local checkpoint file (never a hub name)."""
    weights = Path(path)
    if not weights.is_file() and not weights.is_dir():
        raise FileNotFoundError(f"YOLO weights file {weights} does not exist")
    check_ultralytics_checkpoint(weights)
    prepare_ultralytics()
    from ultralytics import YOLO

    return YOLO(str(weights))


@dataclass
class YoloFrame:
    """One frame's results in working-resolution pixels."""

    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2
    scores: np.ndarray  # (N,)
    classes: list[str]
    track_ids: np.ndarray  # (N,) 0 when the tracker gave none
    masks: np.ndarray | None  # (N, h, w) bool at the frame's size, or None
    keypoints: np.ndarray | None  # (N, K, 3) x, y, confidence, or None


def track_frames(model, frames: Sequence[np.ndarray], *, conf: float, iou: float, batch: int = 8,  # type: ignore[no-untyped-def]
                 imgsz: int = 640, max_det: int = 100, device: str | None = None) -> list[YoloFrame]:
    """Run `model` with ByteTrack over the frames of one clip (RGB arrays), in order."""
    out: list[YoloFrame] = []
    for start in range(0, len(frames), batch):
        chunk = [np.ascontiguousarray(f[:, :, ::-1]) for f in frames[start:start + batch]]  # ultralytics wants BGR
        results = model.track(chunk, persist=start > 0, tracker="bytetrack.yaml", conf=conf, iou=iou,
                              imgsz=imgsz, max_det=max_det, device=device, verbose=False)
        out += [_frame_result(r) for r in results]
    return out


def _frame_result(r) -> YoloFrame:  # type: ignore[no-untyped-def]
    boxes = r.boxes
    n = len(boxes)
    ids = boxes.id.int().cpu().numpy() if boxes.id is not None else np.zeros(n, int)
    masks = None
    if r.masks is not None and n:
        masks = _polygon_masks(r.masks.xy, r.orig_shape)
    kps = None
    if r.keypoints is not None and n:
        xy = r.keypoints.xy.cpu().numpy()
        c = r.keypoints.conf.cpu().numpy() if r.keypoints.conf is not None else np.ones(xy.shape[:2])
        kps = np.concatenate([xy, c[..., None]], axis=2)
    return YoloFrame(
        boxes=boxes.xyxy.cpu().numpy().reshape(-1, 4), scores=boxes.conf.cpu().numpy(),
        classes=[str(r.names[int(c)]) for c in boxes.cls.cpu().numpy()], track_ids=ids, masks=masks, keypoints=kps,
    )


def _polygon_masks(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Masks at the original frame size from ultralytics' polygons (already un-letterboxed)."""
    import cv2

    out = np.zeros((len(polygons), shape[0], shape[1]), np.uint8)
    for i, poly in enumerate(polygons):
        if len(poly) >= 3:
            cv2.fillPoly(out[i], [np.round(poly).astype(np.int32)], 1)
    return out.astype(bool)
