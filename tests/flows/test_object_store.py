"""The cluster recipe with the catalog in an object store: a local S3-protocol server (moto), a Dask scheduler and
two worker processes started on their own, as on other machines.

Artifacts and blobs go to the bucket; each machine keeps the catalog's registry (DuckDB file, lock, fingerprint
caches) in its own folder. The workers here get a registry folder other than the flow's, as on other machines,
so the flow's catalog knows their artifacts only from the store. A second run computes nothing, the catalog is
sealed, the artifacts equal a local catalog's byte for byte, and a third machine rebuilds the registry from the
bucket alone.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter

import pyarrow.fs as pafs
import pytest

from physflow.data_catalog import Catalog
from physflow.data_catalog.storage import REGISTRY_HOME_ENV
from physflow.flows.curate import CurateParams, curate_flow
from physflow.flows.pipeline import DEMO_FILTER
from physflow.flows.runtime import with_runner
from tests.flows import s3_server
from tests.flows.dask_processes import DASK, cold_and_warm, dask_cluster

pytestmark = pytest.mark.usefixtures("prefect_api")
s3_endpoint = s3_server.s3_endpoint  # a fixture


def _artifacts(catalog: Catalog) -> set[tuple[str, str, str]]:
    return {(r["stage"], r["key"], r["content_sha256"])
            for r in catalog.query("SELECT stage, key, content_sha256 FROM artifacts").to_pylist()}


@pytest.mark.timeout(420)
@pytest.mark.skipif(not DASK.exists(), reason="the dask command line (distributed) is not installed")
def test_curate_on_a_cluster_with_the_catalog_in_an_object_store(demo_videos, tmp_path, s3_endpoint, monkeypatch):
    inbox = tmp_path / "inbox"  # inputs on the mount every machine shares
    inbox.mkdir()
    for video in demo_videos:
        shutil.copy(video, inbox / video.name)
    uri = f"s3://physflow-test/catalog?endpoint_override={s3_endpoint}&scheme=http&allow_bucket_creation=true"
    monkeypatch.setenv(REGISTRY_HOME_ENV, str(tmp_path / "flow-machine"))
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()),
           REGISTRY_HOME_ENV: str(tmp_path / "worker-machines")}
    params = CurateParams(inputs=[str(inbox)], catalog=uri, shard_size=1, filter=DEMO_FILTER)
    with dask_cluster(tmp_path, env) as address:
        cold, warm = cold_and_warm(address, curate_flow, params)

    stages = Counter(r.stage for r in cold.refs)
    assert stages["analyze"] >= 2 and stages["clip_export"] >= 1
    assert [r.key for r in warm.refs] == [r.key for r in cold.refs], "the warm run computed nothing new"
    catalog = Catalog(uri)
    fs, base = pafs.FileSystem.from_uri(uri)
    stored = {info.path for info in fs.get_file_info(pafs.FileSelector(base, recursive=True))
              if info.type == pafs.FileType.File}
    assert {f"{base}/{catalog.artifacts.relative_path(r.stage, r.key)}" for r in cold.refs} <= stored
    assert not list((tmp_path / "flow-machine").rglob("*.manifest.json")), "artifacts left the store"
    registered = {r["key"] for r in catalog.query("SELECT key FROM artifacts").to_pylist()}
    assert catalog.trusted_keys() == registered, "sealed after the run: the next one lists the bucket once"

    clips = catalog.query("SELECT clip_id, keep, clip_uri, clip_sha256 FROM clips ORDER BY clip_id").to_pylist()
    exported = [c for c in clips if c["clip_uri"]]
    assert exported and all(c["clip_uri"].startswith("s3://physflow-test/catalog/blobs/") for c in exported)
    assert all(c["clip_uri"].removeprefix("s3://").split("?")[0] in stored for c in exported)
    assert all(c["clip_uri"].endswith(f"?endpoint_override={s3_endpoint}&scheme=http&allow_bucket_creation=true")
               for c in exported), "blob URIs say how to reach the store"

    # The same artifacts, byte for byte, as the default runner writes into a local catalog.
    local = with_runner(curate_flow, None)(params.model_copy(update={"catalog": str(tmp_path / "local")}))
    assert [r.key for r in local.refs] == [r.key for r in cold.refs]
    assert _artifacts(Catalog(tmp_path / "local")) == _artifacts(catalog)

    # Another machine: an empty registry folder, rebuilt from the manifests in the bucket.
    monkeypatch.setenv(REGISTRY_HOME_ENV, str(tmp_path / "new-machine"))
    fresh = Catalog(uri)
    assert fresh.rebuild() == len(_artifacts(catalog))
    assert fresh.query("SELECT clip_id, keep, clip_uri, clip_sha256 FROM clips ORDER BY clip_id").to_pylist() == clips


def test_a_bucket_that_cannot_be_used_fails_the_command_before_work(s3_endpoint, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from physflow.flows.cli import app

    monkeypatch.setenv(REGISTRY_HOME_ENV, str(tmp_path / "registries"))
    uri = f"s3://no-such-bucket/catalog?endpoint_override={s3_endpoint}&scheme=http"  # bucket creation not allowed
    result = CliRunner().invoke(app, ["--catalog", uri, "curate", str(tmp_path)])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "catalog root s3://no-such-bucket/catalog cannot be used" in message and "not found" in message
    assert "endpoint_override" not in message, "the URI's query (it may hold credentials) is not printed"
    assert not (tmp_path / "registries").exists(), "nothing was written"


@pytest.mark.timeout(300)
def test_verify_and_repair_a_catalog_in_an_object_store(demo_videos, tmp_path, s3_endpoint, monkeypatch):
    from physflow.data_catalog.verify import verify_catalog
    from physflow.flows.catalog_verify import CatalogDamagedError, VerifyParams, verify_flow

    monkeypatch.setenv(REGISTRY_HOME_ENV, str(tmp_path / "registries"))
    uri = f"s3://physflow-verify/catalog?endpoint_override={s3_endpoint}&scheme=http&allow_bucket_creation=true"
    params = CurateParams(inputs=[str(v) for v in demo_videos], catalog=uri, filter=DEMO_FILTER)
    cold = curate_flow(params)
    clean = verify_flow(VerifyParams(catalog=uri))
    assert clean["artifacts"] == len({r.key for r in cold.refs}) and clean["blobs"] >= 1
    assert not any(clean[kind] for kind in ("missing", "damaged", "orphan", "stale_temp"))

    # A clip file in the bucket rots (same size, other bytes): the deep check finds it, repair quarantines it.
    fs, _ = pafs.FileSystem.from_uri(uri)
    clip_uri = Catalog(uri).query("SELECT clip_uri FROM clips WHERE clip_uri IS NOT NULL LIMIT 1").to_pylist()[0]["clip_uri"]
    blob = clip_uri.removeprefix("s3://").split("?")[0]
    with fs.open_input_file(blob) as fh:
        whole = fh.read()
    with fs.open_output_stream(blob) as out:
        out.write(bytes(len(whole)))
    with pytest.raises(CatalogDamagedError, match="1 damaged"):
        verify_flow(VerifyParams(catalog=uri))
    report = verify_catalog(Catalog(uri), repair=True)
    assert [(f.kind, f.path) for f in report.findings] == [("damaged", blob.split("/catalog/", 1)[1])]
    assert any(info.path.startswith("physflow-verify/catalog/quarantine/")
               for info in fs.get_file_info(pafs.FileSelector("physflow-verify/catalog", recursive=True)))

    # The next run exports the clip again, byte for byte, and the catalog checks clean.
    curate_flow(params)
    with fs.open_input_file(blob) as fh:
        assert fh.read() == whole
    assert verify_catalog(Catalog(uri)).clean


@pytest.mark.timeout(420)
def test_annotate_and_optical_flow_on_a_catalog_in_an_object_store(demo_videos, tmp_path, s3_endpoint, monkeypatch):
    """The stages after curation read clip files from the bucket (blob URIs carry the store's query; each machine
    opens its cached copy) and write their tables and blobs there: the same artifacts as on a local catalog."""
    from physflow.flows.annotate import AnnotateParams, annotate_flow
    from physflow.flows.optical_flow import OpticalFlowParams, optical_flow_flow
    from physflow.stages.common.remote_files import INPUT_CACHE_ENV

    monkeypatch.setenv(REGISTRY_HOME_ENV, str(tmp_path / "registries"))
    monkeypatch.setenv(INPUT_CACHE_ENV, str(tmp_path / "input-cache"))
    uri = f"s3://physflow-annotate/catalog?endpoint_override={s3_endpoint}&scheme=http&allow_bucket_creation=true"
    refs = {}
    for catalog in (uri, str(tmp_path / "local")):
        curate_flow(CurateParams(inputs=[str(v) for v in demo_videos], catalog=catalog, filter=DEMO_FILTER))
        refs[catalog] = [*annotate_flow(AnnotateParams(catalog=catalog, use_weights=False, limit=2)).refs,
                         *optical_flow_flow(OpticalFlowParams(catalog=catalog)).refs]
    in_bucket = refs[uri]
    assert {r.stage for r in in_bucket} >= {"detect", "part_masks", "optical_flow"}
    assert not any(r.stats["errors"] for r in in_bucket if r.stage in ("detect", "part_masks", "optical_flow"))
    assert [(r.stage, r.content_sha256) for r in in_bucket] == [  # keys differ: the clips' URIs are inputs
        (r.stage, r.content_sha256) for r in refs[str(tmp_path / "local")]]
    masks = Catalog(uri).query("SELECT mask_uri FROM part_masks WHERE mask_uri IS NOT NULL").to_pylist()
    fs, _ = pafs.FileSystem.from_uri(uri)
    assert masks and all(fs.get_file_info(m["mask_uri"].removeprefix("s3://").split("?")[0]).size for m in masks)
