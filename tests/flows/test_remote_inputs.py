"""Input videos in an object store: curated from `s3://bucket/prefix` as from a local folder (the same video ids,
clips, decisions and clip files), on a local S3-protocol server; a warm run asks the store for listings and
sizes only; credentials in an input URI, and a prefix that names nothing, fail before work."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from physflow.data_catalog import Catalog
from physflow.flows.curate import CurateParams, curate_flow
from physflow.flows.inputs import NOT_A_VIDEO, InputError, resolve_inputs
from physflow.flows.pipeline import DEMO_FILTER
from physflow.stages.common import remote_files
from tests.flows import s3_server

pytestmark = pytest.mark.usefixtures("prefect_api")
s3_endpoint = s3_server.s3_endpoint  # a fixture

VIDEO_COLUMNS = "video_id, sha256, bytes, container, codec, width, height, fps, n_frames, error"
CLIP_COLUMNS = "clip_id, video_id, start_frame, end_frame, blur, motion_p90, keep, reject_reason, clip_sha256, export_mode"


def _bucket(endpoint: str, name: str = "physflow-inputs") -> tuple[pafs.FileSystem, str]:
    fs, _ = pafs.FileSystem.from_uri(f"s3://{name}?endpoint_override={endpoint}&scheme=http&allow_bucket_creation=true")
    fs.create_dir(name)
    return fs, f"s3://{name}/raw?endpoint_override={endpoint}&scheme=http"


def _upload(fs: pafs.FileSystem, key: str, data: bytes) -> None:
    with fs.open_output_stream(key) as out:
        out.write(data)


@pytest.fixture()
def input_cache(tmp_path, monkeypatch):
    folder = tmp_path / "input-cache"
    monkeypatch.setenv(remote_files.INPUT_CACHE_ENV, str(folder))
    return folder


@pytest.mark.timeout(300)
def test_curate_videos_in_a_bucket_as_from_a_folder(demo_videos, real_videos, s3_endpoint, input_cache, tmp_path):
    fs, prefix = _bucket(s3_endpoint)
    local = tmp_path / "local"
    local.mkdir()
    sources = [*demo_videos, real_videos / "decord_flipping_a_pancake.mkv"]
    for video in sources:
        shutil.copy(video, local / video.name)
        _upload(fs, f"physflow-inputs/raw/{video.parent.name}/{video.name}", video.read_bytes())
    _upload(fs, "physflow-inputs/raw/notes.txt", b"not a video\n")
    _upload(fs, "physflow-inputs/raw/.hidden/skipped.mp4", (local / sources[0].name).read_bytes())

    files, skipped = resolve_inputs([prefix])
    assert len(files) == len(sources) and all(f.startswith("s3://physflow-inputs/raw/") for f in files)
    assert all(f.endswith(f"?endpoint_override={s3_endpoint}&scheme=http") for f in files), "each file says its store"
    assert [(remote_files.location(s.path), s.reason) for s in skipped] == [
        ("s3://physflow-inputs/raw/notes.txt", NOT_A_VIDEO)]

    remote = curate_flow(CurateParams(inputs=[prefix], catalog=str(tmp_path / "remote"), filter=DEMO_FILTER))
    folder = curate_flow(CurateParams(inputs=[str(local)], catalog=str(tmp_path / "folder"), filter=DEMO_FILTER))
    from_bucket, from_folder = Catalog(tmp_path / "remote"), Catalog(tmp_path / "folder")
    videos = f"SELECT {VIDEO_COLUMNS}, uri FROM videos ORDER BY video_id"
    in_bucket, in_folder = from_bucket.query(videos).to_pylist(), from_folder.query(videos).to_pylist()
    assert sorted(r["uri"] for r in in_bucket) == sorted(files)
    assert all("input-cache" not in r["error"] for r in in_bucket if r["error"]), "errors name the object"
    assert [{**r, "uri": None, "error": bool(r["error"])} for r in in_bucket] == [
        {**r, "uri": None, "error": bool(r["error"])} for r in in_folder]
    clips = f"SELECT {CLIP_COLUMNS} FROM clips ORDER BY clip_id"
    rows = from_bucket.query(clips).to_pylist()
    assert rows == from_folder.query(clips).to_pylist()
    assert remote.summary["kept"] == folder.summary["kept"] >= 1
    assert len(list(input_cache.iterdir())) == len(sources), "each object downloaded once, for every stage"

    # Warm: listings, first bytes and sizes from the store; no object downloaded again, nothing computed.
    shutil.rmtree(input_cache)
    warm = curate_flow(CurateParams(inputs=[prefix], catalog=str(tmp_path / "remote"), filter=DEMO_FILTER))
    assert [r.key for r in warm.refs] == [r.key for r in remote.refs]
    assert not input_cache.exists(), "a warm run downloads no video"


def test_an_input_uri_with_credentials_is_refused():
    with pytest.raises(InputError, match="give credentials in the environment") as info:
        resolve_inputs(["s3://bucket/videos?endpoint_override=127.0.0.1:1&access_key=me&secret_key=hunter2"])
    assert "hunter2" not in str(info.value)


def test_a_prefix_that_names_nothing_fails_before_work(s3_endpoint):
    _, prefix = _bucket(s3_endpoint, "physflow-empty")  # the server's buckets live as long as the process
    with pytest.raises(InputError, match=r"input 's3://no-such-bucket/raw' does not exist"):
        resolve_inputs([prefix.replace("physflow-empty", "no-such-bucket")])
    with pytest.raises(InputError, match=r"input 's3://physflow-empty/raw' does not exist"):
        resolve_inputs([prefix])


def test_the_input_cache_keeps_to_its_budget(s3_endpoint, input_cache, monkeypatch):
    fs, prefix = _bucket(s3_endpoint, "physflow-budget")
    for name in ("a.mp4", "b.mp4"):
        _upload(fs, f"physflow-budget/raw/{name}", bytes(2000))
    monkeypatch.setenv(remote_files.INPUT_CACHE_GB_ENV, str(3000 / 2**30))  # room for one object
    where, _, query = prefix.partition("?")
    first = remote_files.local_copy(f"{where}/a.mp4?{query}")
    assert remote_files.local_copy(f"{where}/a.mp4?{query}") == first, "a second use reads this machine's copy"
    second = remote_files.local_copy(f"{where}/b.mp4?{query}")
    assert [p.name for p in input_cache.iterdir()] == [second.rsplit("/", 1)[1]], "the copy used longest ago went"
    assert Path(second).read_bytes() == bytes(2000)
