"""Item reuse: the registry's index of which rows each item of an artifact holds, and what it refuses to reuse."""

from __future__ import annotations

import pyarrow as pa

from physflow.data_catalog import Catalog
from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.schemas import TABLES

RECIPE = "r1"


def _write(cat: Catalog, key: str, clips: dict[str, list[bytes | None]], recipe: str | None = RECIPE) -> None:
    """An export artifact of items (a video each) with their clips' payloads (None: an error row)."""
    store, rows, items = BlobStore(cat.root), [], []
    for video, payloads in clips.items():
        for n, payload in enumerate(payloads):
            row = {"clip_id": f"{video}:{n}", "video_id": video}
            if payload is None:
                row["error"] = "export failed: no frames"
            else:
                uri, sha = store.put_bytes(payload, "mp4")
                row |= {"clip_uri": store.ref(uri), "clip_sha256": sha}
            rows.append(row)
        items.append((f"item-{video}", len(payloads)))
    table = pa.Table.from_pylist(rows, schema=TABLES["clip_files"].schema)
    cat.register(cat.artifacts.write(stage="clip_export", version=1, key=key, table_name="clip_files", table=table,
                                     shard=key, config={}, inputs=[key], recipe=recipe, items=items))


def test_the_rows_of_each_item_come_back_from_the_artifact_that_holds_them(tmp_path):
    cat = Catalog(tmp_path / "catalog")
    _write(cat, "k1", {"a": [b"a0", b"a1"], "b": [b"b0"]})
    _write(cat, "k2", {"c": [b"c0"], "d": []})
    found = cat.item_rows("clip_export", RECIPE, ["item-b", "item-a", "item-d", "item-c", "item-new"])
    assert {k: [r["clip_id"] for r in rows] for k, rows in found.items()} == {
        "item-a": ["a:0", "a:1"], "item-b": ["b:0"], "item-c": ["c:0"], "item-d": []}
    assert found["item-a"][1]["clip_sha256"] == cat.artifacts.read("clip_export", "k1").to_pylist()[1]["clip_sha256"]


def test_nothing_is_reused_under_another_recipe_or_from_an_artifact_that_left_the_registry(tmp_path):
    cat = Catalog(tmp_path / "catalog")
    _write(cat, "k1", {"a": [b"a0"]})
    assert cat.item_rows("clip_export", "another config", ["item-a"]) == {}
    assert cat.item_rows("analyze", RECIPE, ["item-a"]) == {}
    cat.forget("clip_export", "k1", "test")
    assert cat.item_rows("clip_export", RECIPE, ["item-a"]) == {}


def test_an_item_with_an_error_row_is_computed_again(tmp_path):
    cat = Catalog(tmp_path / "catalog")
    _write(cat, "k1", {"a": [b"a0", None], "b": [b"b0"]})
    assert set(cat.item_rows("clip_export", RECIPE, ["item-a", "item-b"])) == {"item-b"}


def test_a_damaged_artifact_or_blob_is_not_reused(tmp_path):
    cat = Catalog(tmp_path / "catalog")
    _write(cat, "k1", {"a": [b"a0"]})
    _write(cat, "k2", {"b": [b"b0"]})
    blob = BlobStore(cat.root).resolve(cat.artifacts.read("clip_export", "k2").to_pylist()[0]["clip_uri"])
    with open(blob, "r+b") as fh:
        fh.write(b"XX")
    fresh = Catalog(tmp_path / "catalog")  # a new process: nothing remembered as checked
    assert set(fresh.item_rows("clip_export", RECIPE, ["item-a", "item-b"])) == {"item-a"}


def test_an_artifact_without_an_item_index_offers_nothing(tmp_path):
    cat = Catalog(tmp_path / "catalog")
    _write(cat, "k1", {"a": [b"a0"]}, recipe=None)
    assert cat.item_rows("clip_export", RECIPE, ["item-a"]) == {}
