"""A full disk or a permission error while writing an artifact: a clear error, nothing partial, a clean rerun."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from physflow.data_catalog import Catalog
from physflow.data_catalog.storage import Root, StorageWriteError
from physflow.flows.ingest import IngestParams, ingest_flow

pytestmark = pytest.mark.usefixtures("prefect_api")


class _FailingStream:
    """An output stream that accepts `room` bytes, then fails as the file system would."""

    def __init__(self, inner, room: int, err: int):
        self.inner, self.room, self.err = inner, room, err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.inner.close()

    def write(self, data) -> int:
        if len(data) > self.room:
            self.inner.write(bytes(data[: self.room]))
            raise OSError(self.err, os.strerror(self.err))
        self.room -= len(data)
        return int(self.inner.write(data))


def _ingest(root: Path, videos: list[Path]) -> None:
    ingest_flow(IngestParams(inputs=[str(v) for v in videos], catalog=str(root), shard_size=2,
                             ingest={"decode_check": "first"}))


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("err", "hint"), [(errno.ENOSPC, "disk is full"), (errno.EACCES, "permission denied")])
def test_failed_artifact_write_registers_nothing_and_the_rerun_completes(demo_videos, tmp_path, monkeypatch,
                                                                          err, hint):
    root = tmp_path / "catalog"
    real_open = Root._open_output

    def failing_open(self, path):
        stream = real_open(self, path)
        return _FailingStream(stream, 100, err) if "/artifacts/ingest/" in path else stream

    monkeypatch.setattr(Root, "_open_output", failing_open)
    with pytest.raises(StorageWriteError, match=f"could not write .*/artifacts/ingest/.*parquet: .*{hint}"):
        _ingest(root, demo_videos)
    cat = Catalog(root)
    assert cat.artifacts.manifests() == []
    assert cat.query("SELECT count(*) AS n FROM artifacts").to_pylist() == [{"n": 0}]
    assert not [p for p in (root / "artifacts").rglob("*") if ".tmp-" in p.name], "a partial temp file was left"

    monkeypatch.setattr(Root, "_open_output", real_open)  # space freed
    _ingest(root, demo_videos)
    clean = tmp_path / "clean"
    _ingest(clean, demo_videos)
    query = "SELECT * EXCLUDE (uri) FROM videos ORDER BY video_id"
    assert cat.query(query).to_pylist() == Catalog(clean).query(query).to_pylist()
    assert cat.table("videos").num_rows == len(demo_videos)
