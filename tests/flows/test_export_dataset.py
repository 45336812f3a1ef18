"""export-dataset over a small real catalog (two real videos, clip files, measured captions, physics
context, DIS flow RGB, part masks): each format loads back with its own reader (datasets, webdataset,
pandas), sample for sample equal to the catalog's rows; shard names are deterministic; re-runs resume."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pyarrow as pa
import pytest

from physflow.data_catalog import Catalog
from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.keys import sha256_text
from physflow.data_catalog.schemas import CLIPS, PART_MASKS, TABLES
from physflow.flows.caption import CaptionParams, caption_flow
from physflow.flows.export_dataset import ExportParams, export_dataset_flow
from physflow.flows.ingest import IngestParams, ingest_flow
from physflow.flows.optical_flow import OpticalFlowParams, optical_flow_flow
from physflow.flows.physics_context import PhysicsParams, physics_context_flow
from physflow.stages.common.video_io import iter_frames, write_video

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.timeout(300)]
VIDEOS = ("decord_flipping_a_pancake.mkv", "mmaction2_basketball_structuralize.mp4")
FRAMES = 12


def _register(catalog: Catalog, table: str, rows: list[dict], stage: str) -> None:
    key = sha256_text(stage + json.dumps(rows, sort_keys=True, default=str))
    manifest = catalog.artifacts.write(stage=stage, version=1, key=key, table_name=table,
                                       table=pa.Table.from_pylist(rows, schema=TABLES[table].schema),
                                       shard=key[:32], config={}, inputs=[])
    catalog.register(manifest)


@pytest.fixture(scope="module")
def catalog(real_videos, tmp_path_factory) -> Catalog:
    root = tmp_path_factory.mktemp("export") / "catalog"
    ingest_flow(IngestParams(inputs=[str(real_videos / n) for n in VIDEOS], catalog=str(root),
                             ingest={"decode_check": "none"}))
    cat = Catalog(root)
    blobs = BlobStore(cat.root)
    clips, masks = [], []
    for n, video in enumerate(sorted(cat.table("videos").to_pylist(), key=lambda v: v["uri"])):
        frames = [f for _, f in iter_frames(video["uri"], end=FRAMES, width=160)]
        tmp = root.parent / f"clip{n}.mp4"
        write_video(tmp, frames, 30.0)
        clip_id = f"{video['video_id']}:0-{FRAMES}"
        ref = blobs.ref(blobs.put_file(tmp)[0])
        h, w = frames[0].shape[:2]
        clips.append({"clip_id": clip_id, "video_id": video["video_id"], "start_frame": 0, "end_frame": FRAMES,
                      "keep": True, "clip_uri": ref, "fps": 30.0, "width": w, "height": h,
                      "duration_s": FRAMES / 30})
        clips.append({"clip_id": f"{video['video_id']}:50-70", "video_id": video["video_id"], "start_frame": 50,
                      "end_frame": 70, "keep": False, "reject_reason": "static"})
        label = np.zeros((h, w), np.uint8)
        label[h // 4:h // 2, w // 4:w // 2] = n + 1
        png = cv2.imencode(".png", label)[1].tobytes()
        masks += [{"clip_id": clip_id, "frame": f, "mask_uri": blobs.ref(blobs.put_bytes(png, "png")[0]),
                   "confidence": 1.0, "width": w, "height": h} for f in (0, 6)]
    _register(cat, CLIPS, clips, "test_clips")
    _register(cat, PART_MASKS, masks, "test_masks")
    optical_flow_flow(OpticalFlowParams(catalog=str(root)))
    caption_flow(CaptionParams(catalog=str(root)))
    physics_context_flow(PhysicsParams(catalog=str(root), from_catalog=True))
    return cat


def expected(catalog: Catalog) -> list[dict]:
    return catalog.query("""SELECT c.clip_id, cap.caption, p.laws FROM clips c JOIN captions cap USING (clip_id)
                            JOIN physics_context p USING (clip_id) WHERE c.keep ORDER BY clip_id""").to_pylist()


def test_every_kept_clip_has_one_caption_and_one_physics_row(catalog):
    rows = catalog.query("SELECT clip_id, count(*) AS n FROM physics_context GROUP BY clip_id").to_pylist()
    assert sorted(r["clip_id"] for r in rows) == [r["clip_id"] for r in expected(catalog)] and len(rows) == 2
    assert all(r["n"] == 1 for r in rows)


def test_hf_export_loads_with_datasets(catalog, tmp_path):
    datasets = pytest.importorskip("datasets", reason="pip install datasets")
    report = export_dataset_flow(ExportParams(out=str(tmp_path / "hf"), format="hf", shard_size=1,
                                              catalog=str(catalog.root.uri)))
    assert report.files == ["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"]
    ds = datasets.load_dataset(str(tmp_path / "hf"), split="train")
    want = expected(catalog)
    assert [(r["clip_id"], r["caption"], r["laws"]) for r in ds] == [(w["clip_id"], w["caption"], w["laws"]) for w in want]
    for r in ds:
        video = tmp_path / "hf" / r["video"]
        assert video.is_file() and sum(1 for _ in iter_frames(video)) == FRAMES
    # a re-run resumes: nothing is rewritten
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "hf").rglob("*.parquet")}
    export_dataset_flow(ExportParams(out=str(tmp_path / "hf"), format="hf", shard_size=1, catalog=str(catalog.root.uri)))
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "hf").rglob("*.parquet")} == mtimes


def test_webdataset_export_loads_with_webdataset(catalog, tmp_path):
    wds = pytest.importorskip("webdataset", reason="pip install webdataset")
    out = tmp_path / "wds"
    report = export_dataset_flow(ExportParams(out=str(out), format="webdataset", shard_size=2,
                                              where="keep AND caption IS NOT NULL", catalog=str(catalog.root.uri)))
    assert report.files == ["shard-000000.tar"]
    samples = list(wds.WebDataset(str(out / "shard-000000.tar"), shardshuffle=False))
    want = expected(catalog)
    assert [json.loads(s["json"])["clip_id"] for s in samples] == [w["clip_id"] for w in want]
    for s, w in zip(samples, want, strict=True):
        assert s["txt"].decode() == w["caption"] and json.loads(s["json"])["physics"]["laws"] == w["laws"]
        assert s["mp4"][4:8] == b"ftyp" and s["flow.mp4"][4:8] == b"ftyp"
        masks = sorted(k for k in s if k.startswith("mask."))
        assert masks == ["mask.000000.png", "mask.000006.png"]
        assert cv2.imdecode(np.frombuffer(s[masks[0]], np.uint8), cv2.IMREAD_UNCHANGED).max() >= 1
    again = export_dataset_flow(ExportParams(out=str(out), format="webdataset", shard_size=2,
                                             where="keep AND caption IS NOT NULL", catalog=str(catalog.root.uri)))
    assert (out / "shard-000000.tar").read_bytes() and again.files == report.files


def test_csv_export_loads_with_pandas(catalog, tmp_path):
    pd = pytest.importorskip("pandas")
    out = tmp_path / "csv"
    export_dataset_flow(ExportParams(out=str(out), format="csv", catalog=str(catalog.root.uri)))
    prompts = (out / "prompts.txt").read_text().splitlines()
    videos = (out / "videos.txt").read_text().splitlines()
    meta = pd.read_csv(out / "metadata.csv")
    want = expected(catalog)
    assert prompts == [w["caption"] for w in want] == list(meta["caption"])
    assert list(meta["clip_id"]) == [w["clip_id"] for w in want] and list(meta["video"]) == videos
    assert all((out / v).is_file() for v in videos)


def test_bad_where_fails_naming_it(catalog, tmp_path):
    with pytest.raises(ValueError, match="no_such_column"):
        export_dataset_flow(ExportParams(out=str(tmp_path / "x"), where="no_such_column > 1",
                                         catalog=str(catalog.root.uri)))
    with pytest.raises(ValueError, match="one SQL condition"):
        ExportParams(out="x", where="keep; DROP TABLE clips")
