"""The annotate flow over real clips: real-format weights files, caching, no network, failures before work."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from physflow.data_catalog.blobs import BlobStore
from physflow.flows.annotate import AnnotateParams, annotate_flow, kept_clips
from physflow.models.body_model import build_body_model
from physflow.models.registry import MissingWeightsError
from physflow.stages.common import video_io
from tests.flows.clip_fixtures import register_clips

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.timeout(400)]

_NETWORK_GUARD = {"on": False, "seen": []}


def _audit(event: str, args: tuple) -> None:
    """Fail any socket connection (or name lookup) to anything but 127.0.0.1 while the guard is on."""
    if not _NETWORK_GUARD["on"]:
        return
    if event == "socket.connect":
        address = args[1]
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1") and not (isinstance(host, str) and host.startswith("/")):
            _NETWORK_GUARD["seen"].append(repr(address))
            raise RuntimeError(f"network access during annotation: connect to {address!r}")
    elif event == "socket.getaddrinfo" and args[0] not in ("127.0.0.1", "localhost", "::1", None):
        _NETWORK_GUARD["seen"].append(repr(args[0]))
        raise RuntimeError(f"network access during annotation: name lookup of {args[0]!r}")


sys.addaudithook(_audit)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory) -> Path:
    """ultralytics models built from their yaml and saved as .pt, and the procedural body model."""
    from physflow.models.yolo import prepare_ultralytics

    folder = tmp_path_factory.mktemp("weights")
    prepare_ultralytics(folder / "ultralytics-config")
    from ultralytics import YOLO

    YOLO("yolov8n.yaml").save(str(folder / "yolo-detect.pt"))
    YOLO("yolov8n-pose.yaml").save(str(folder / "yolo-pose.pt"))
    build_body_model(folder / "SMPL_NEUTRAL.pkl")
    return folder


def _params(catalog_root: Path, toml: Path | None, **extra) -> AnnotateParams:
    return AnnotateParams(
        catalog=str(catalog_root), weights_config=str(toml) if toml else None, shard_size=1,
        sampling={"stride": 6, "max_frames": 4, "width": 320},
        # random weights score every box near zero: a tiny threshold still sends rows down the pipeline
        detect={"conf": 1e-4, "imgsz": 320, "max_det": 5}, pose={"conf": 1e-4, "imgsz": 320, "max_det": 2},
        body_fit={"iters_camera": 5, "iters_full": 10, "min_conf": 0.0}, **extra,
    )


def test_annotate_with_yolo_weights_end_to_end_offline(real_videos, weights_dir, catalog_root, tmp_path):
    catalog = register_clips(catalog_root, real_videos)
    assert len(kept_clips(catalog)) == 2
    toml = tmp_path / "physflow.toml"
    toml.write_text(f'[weights]\nyolo-detect = "{weights_dir / "yolo-detect.pt"}"\n'
                    f'yolo-pose = "{weights_dir / "yolo-pose.pt"}"\nsmpl = "{weights_dir / "SMPL_NEUTRAL.pkl"}"\n')
    _NETWORK_GUARD["on"] = True
    try:
        refs = annotate_flow(_params(catalog_root, toml))
    finally:
        _NETWORK_GUARD["on"] = False
    assert not _NETWORK_GUARD["seen"]
    assert set(refs.by_stage()) == {"detect", "pose", "body_fit", "part_masks"}
    assert all(r.stats["errors"] == {} for r in refs.stage("detect")), refs.stage("detect")
    det = catalog.query("SELECT * FROM detections").to_pylist()
    assert det and {d["source"] for d in det} == {"yolo"} and all(len(d["box"]) == 4 for d in det)
    assert {d["frame"] for d in det} <= {0, 6, 12, 18}
    assert len({(d["clip_id"], d["frame"], d["track_id"]) for d in det}) == len(det)
    poses = catalog.query("SELECT * FROM poses WHERE error IS NULL").to_pylist()
    assert poses and all(len(p["keypoints"]) == 17 and p["format"] == "coco17" for p in poses)
    fits = catalog.query("SELECT * FROM body_fits").to_pylist()
    assert fits and all(f["model"] == "smpl" for f in fits if f["error"] is None)
    masks = catalog.query("SELECT * FROM part_masks ORDER BY clip_id, frame").to_pylist()
    assert len(masks) == 8 and all(m["error"] is None for m in masks)
    blobs = BlobStore(catalog.root)
    label_map = cv2.imdecode(np.frombuffer(blobs.read_bytes(masks[0]["mask_uri"]), np.uint8), cv2.IMREAD_UNCHANGED)
    assert label_map.shape == (masks[0]["height"], masks[0]["width"]) and label_map.dtype == np.uint8
    preview = cv2.imdecode(np.frombuffer(blobs.read_bytes(masks[0]["preview_uri"]), np.uint8), cv2.IMREAD_COLOR)
    # the preview is the clip's contact sheet: a grid of sampled frames, each at least the label map's size
    assert preview.shape[0] >= label_map.shape[0] and preview.shape[1] >= label_map.shape[1]
    opened = video_io.OPEN_COUNT
    warm = annotate_flow(_params(catalog_root, toml))
    assert video_io.OPEN_COUNT == opened, "a warm annotate run must not decode any video"
    assert [r.key for r in warm.refs] == [r.key for r in refs.refs]


def test_missing_weights_fail_before_work(real_videos, catalog_root, tmp_path):
    register_clips(catalog_root, real_videos)
    toml = tmp_path / "physflow.toml"
    toml.write_text('[weights]\nyolo-pose = "nowhere/pose.pt"\n')
    with pytest.raises(MissingWeightsError, match=r"pose\.pt does not exist.*fallback"):
        annotate_flow(_params(catalog_root, toml))
    assert not (catalog_root / "artifacts" / "detect").exists()


def test_network_guard_catches_a_connect():
    import socket

    _NETWORK_GUARD["on"] = True
    try:
        with pytest.raises(RuntimeError, match="network access"):
            socket.create_connection(("192.0.2.1", 80), timeout=0.2)
    finally:
        _NETWORK_GUARD["on"] = False
        _NETWORK_GUARD["seen"].clear()
