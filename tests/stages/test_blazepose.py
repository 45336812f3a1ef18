"""The pose stage's default (BlazePose with hands) on a synthetic human and a real clip; the default files'
installer and registry entries; a portrait clip through part_masks."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from physflow.models.default_weights import DEFAULT_FILES, InstallError, extract, install_defaults
from physflow.models.registry import MissingWeightsError, WeightsRegistry
from physflow.stages.common.annotation import AnnotatedShard, ClipRef, FrameSampling, WeightsRef, rle_decode
from physflow.stages.common.video_io import write_video
from physflow.stages.pose import PoseConfig, PoseStage

NO_DETECTIONS = pa.table({"clip_id": pa.array([], pa.string())})


@pytest.fixture(scope="module")
def default_refs() -> dict[str, WeightsRef]:
    registry = WeightsRegistry.load()
    found = {f.name: registry.get(f.name) for f in DEFAULT_FILES}
    if any(w is None for w in found.values()):
        pytest.skip("BlazePose and hand files not installed: run `physflow weights install-defaults`")
    return {name.replace("-", "_"): WeightsRef(path=str(w.path), sha256=w.sha256) for name, w in found.items()}


@pytest.mark.timeout(120)
def test_blazepose_finds_the_synthetic_human(default_refs, tmp_path):
    from physflow.stages.synth import SynthConfig, simulate
    from physflow.stages.synth.render import render_frames

    cfg = SynthConfig(width=320, height=240, n_frames=8)
    scene = simulate("human_jump", 100, cfg)
    path = write_video(tmp_path / "human.mp4", render_frames(scene)[:6], scene.fps, crf=cfg.crf)
    clip = ClipRef("human:0-6", "human", 0, 6, str(path), cfg.width, cfg.height)
    config = PoseConfig(sampling=FrameSampling(width=320), **default_refs)
    rows = PoseStage(config).run([AnnotatedShard([clip], {"detections": NO_DETECTIONS})]).to_pylist()
    assert [r["frame"] for r in rows] == list(range(6)) and all(r["error"] is None for r in rows)
    assert len({r["track_id"] for r in rows}) == 1  # one person, followed
    truth = scene.human["keypoints"][:6, :, :2]
    pred = np.array([r["keypoints"] for r in rows])[:, :, :2]
    size = np.ptp(truth, axis=1).max(axis=1)[:, None]
    # PCK@0.1 with left and right allowed to swap: the synthetic body has no face, so the model cannot tell
    # its front (facing the camera) from its back
    flip = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    pck = max((np.linalg.norm(p - truth, axis=2) < 0.1 * size).mean() for p in (pred, pred[:, flip]))
    assert pck > 0.8
    row = rows[0]
    assert np.array(row["landmarks"]).shape == (33, 4) and np.array(row["world_landmarks"]).shape == (33, 3)
    mask = rle_decode(row["mask_rle"])
    assert mask.shape == (240, 320) and (mask & scene.objects[0].masks[0]).sum() > 0.5 * mask.sum()
    assert row["source"] == "blazepose" and row["format"] == "coco17"


@pytest.mark.timeout(120)
def test_blazepose_hands_on_a_real_juggler(default_refs, real_videos, tmp_path):
    clip = ClipRef("juggle:0-21", "juggle", 0, 21, str(real_videos / "sam2_05_default_juggle.mp4"), 1280, 720)
    config = PoseConfig(sampling=FrameSampling(stride=10, width=640), **default_refs)
    rows = [r for r in PoseStage(config).run([AnnotatedShard([clip], {"detections": NO_DETECTIONS})]).to_pylist()
            if r["error"] is None]
    assert [r["frame"] for r in rows] == [0, 10, 20]
    with_hands = [(r, side) for r in rows for side in ("left", "right") if r[f"{side}_hand"]]
    assert with_hands
    for r, side in with_hands:  # the hand's wrist lies near the pose's wrist (source pixels)
        wrist = np.array(r["landmarks"])[15 if side == "left" else 16, :2]
        hand = np.array(r[f"{side}_hand"])
        assert hand.shape == (21, 3) and np.linalg.norm(hand[0, :2] - wrist) < 60
        assert np.array(r[f"{side}_hand_world"]).shape == (21, 3)
    _save_sheet(clip, pa.Table.from_pylist(rows), tmp_path)


def _save_sheet(clip: ClipRef, poses: pa.Table, blob_root: Path) -> None:
    """The clip's contact sheet (skeletons and hands; no fits) into test-artifacts/ for a person to look at."""
    from physflow.data_catalog.blobs import BlobStore
    from physflow.data_catalog.storage import Root
    from physflow.stages.part_masks import PartMasksConfig, PartMasksStage

    config = PartMasksConfig(sampling=FrameSampling(stride=10, width=640), sheet_frames=3)
    rows = PartMasksStage(config).run([AnnotatedShard([clip], {"detections": NO_DETECTIONS, "poses": poses,
                                                                "body_fits": NO_DETECTIONS},
                                                       blob_root=str(blob_root))]).to_pylist()
    sheet = BlobStore(Root(blob_root)).resolve(rows[0]["preview_uri"])
    out = Path(__file__).resolve().parents[2] / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / "contact_sheet_juggle.png").write_bytes(Path(sheet).read_bytes())


def test_backend_choice_fails_before_work_when_files_are_absent():
    with pytest.raises(ValueError, match="install-defaults"):
        PoseStage(PoseConfig(backend="blazepose")).backend()
    assert PoseStage(PoseConfig()).backend() is None  # auto without files: the 'no pose model' row


def test_installer_rejects_a_wheel_with_other_files(tmp_path):
    wheel = tmp_path / "mediapipe-0.10.21-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for f in DEFAULT_FILES:
            zf.writestr(f.member, b"not the model")
    with pytest.raises(InstallError, match="not the pinned"):
        extract(wheel, tmp_path / "weights")
    assert not list((tmp_path / "weights").glob("*.tflite"))


def test_registry_checks_the_pinned_default_files(tmp_path):
    (tmp_path / "pose_detection.tflite").write_bytes(b"something else")
    registry = WeightsRegistry(defaults_dir=tmp_path)
    with pytest.raises(MissingWeightsError, match="not the pinned"):
        registry.get("blazepose-detector")
    assert registry.get("hand-landmarks") is None  # absent: the fallback


def test_installer_fetches_nothing_when_files_are_there(default_refs, tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    for f in DEFAULT_FILES:
        (folder / f.filename).symlink_to(default_refs[f.name.replace("-", "_")].path)
    assert install_defaults(folder, wheel=tmp_path / "absent.whl") == [folder / f.filename for f in DEFAULT_FILES]


@pytest.mark.timeout(120)
def test_portrait_exported_clip_through_part_masks(tmp_path):
    """A 368x480 source exported at 360x470 (short side 360, even sizes): the decoded frames are 836 px tall at
    width 640 while the source's aspect says 834; the map, its preview and the rows agree with the frames."""
    from physflow.stages.part_masks import PartMasksConfig, PartMasksStage

    frames = [np.full((470, 360, 3), 40 * i, np.uint8) for i in range(3)]
    path = write_video(tmp_path / "portrait.mp4", frames, 10.0)
    clip = ClipRef("tall:0-3", "tall", 0, 3, str(tmp_path / "source.mp4"), 368, 480, clip_uri=str(path))
    detections = pa.Table.from_pylist([
        {"clip_id": clip.clip_id, "frame": f, "track_id": 1, "cls": "person", "box": [50.0, 60.0, 200.0, 460.0],
         "mask_rle": None, "error": None} for f in range(3)])
    config = PartMasksConfig(sampling=FrameSampling(width=640))
    rows = PartMasksStage(config).run([AnnotatedShard([clip], {"detections": detections, "body_fits": NO_DETECTIONS},
                                                      blob_root=str(tmp_path))]).to_pylist()
    assert [r["error"] for r in rows] == [None] * 3
    assert {(r["height"], r["width"]) for r in rows} == {(836, 640)} and rows[0]["preview_uri"]


@pytest.mark.timeout(180)
def test_hands_without_a_body_on_a_top_down_clip(default_refs, real_videos, tmp_path):
    """Blocks slid by hand, seen from above: no whole body (short partial-body tracks are dropped), hands found
    by the palm detector over the whole frame, drawn as hand labels; body_fit has no body to fit."""
    from physflow.stages.body_fit import BodyFitConfig, BodyFitStage
    from physflow.stages.common.annotation import HANDS_ONLY

    clip = ClipRef("blocks:24-48", "blocks", 24, 48, str(real_videos / "sam2_03_blocks.mp4"), 1280, 720)
    sampling = FrameSampling(stride=4, width=640)
    config = PoseConfig(sampling=sampling, loose_hands_stride=1, **default_refs)
    poses = PoseStage(config).run([AnnotatedShard([clip], {"detections": NO_DETECTIONS})])
    rows = [r for r in poses.to_pylist() if r["error"] is None]
    assert rows and all(r["source"] == HANDS_ONLY for r in rows)
    assert len({r["frame"] for r in rows}) >= 3  # of 6 sampled frames
    for r in rows:
        hand = np.array(r["left_hand"] or r["right_hand"])
        assert hand.shape == (21, 3) and 0 <= hand[:, 0].min() and hand[:, 0].max() <= 1280
        assert np.ptp(hand[:, 0]) > 60  # a hand ~200 px across at 1280 px, not a speck
    fits = BodyFitStage(BodyFitConfig(model="smplx")).run([AnnotatedShard([clip], {"poses": poses})]).to_pylist()
    assert [f["error"] for f in fits] == ["no keypoints to fit (no pose rows for this clip)"]
    from physflow.data_catalog.blobs import BlobStore
    from physflow.data_catalog.storage import Root
    from physflow.stages.part_masks import PartMasksConfig, PartMasksStage

    masks = PartMasksStage(PartMasksConfig(sampling=sampling, sheet_frames=4)).run(
        [AnnotatedShard([clip], {"detections": NO_DETECTIONS, "poses": poses}, blob_root=str(tmp_path))]).to_pylist()
    hand_frames = [m for m in masks if "hand" in (m["labels"] or "")]
    assert len(hand_frames) >= 3
    out = Path(__file__).resolve().parents[2] / "test-artifacts"
    out.mkdir(exist_ok=True)
    sheet = BlobStore(Root(str(tmp_path))).resolve(masks[0]["preview_uri"])
    (out / "contact_sheet_blocks_hands.png").write_bytes(Path(sheet).read_bytes())
