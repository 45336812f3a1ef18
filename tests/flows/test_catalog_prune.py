"""The prune-catalog flow on a curated catalog: another export size's clips go, the tables read as before, and the
size changed back computes its clips again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from physflow.data_catalog import Catalog
from physflow.data_catalog.verify import verify_catalog
from physflow.flows.catalog_prune import PruneParams, prune_flow
from physflow.flows.curate import CurateParams, curate_flow
from physflow.stages.clip_export import ExportConfig
from physflow.stages.common.video_io import probe

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.timeout(600)]

KEPT_SQL = "SELECT c.clip_id, c.clip_uri FROM clips c WHERE c.keep ORDER BY c.clip_id"


def test_prune_flow_frees_another_export_size_and_a_rerun_computes_it_again(real_videos, tmp_path):
    video = tmp_path / "in" / "pancake.mkv"
    video.parent.mkdir()
    shutil.copy(real_videos / "decord_flipping_a_pancake.mkv", video)
    root = tmp_path / "catalog"

    def curate(short_side: int) -> list[dict]:
        curate_flow(CurateParams(inputs=[str(video)], catalog=str(root),
                                 export=ExportConfig(short_side=short_side, max_frames=30)))
        return Catalog(root).query(KEPT_SQL).to_pylist()

    small = curate(96)
    small_files = {Path(Catalog(root).artifacts.blobs.resolve(r["clip_uri"])) for r in small}
    big = curate(128)
    assert small and all(f.exists() for f in small_files)

    kept = prune_flow(PruneParams(catalog=str(root)))  # the 96 px clips were superseded seconds ago: kept
    assert kept["artifacts"] == 0 and kept["kept_recent"] >= 1
    pruned = prune_flow(PruneParams(catalog=str(root), older_than_s=0))
    assert pruned["artifacts"] >= 1 and pruned["blobs"] == len(small_files) and pruned["blob_bytes"] > 0
    assert not any(f.exists() for f in small_files)
    assert Catalog(root).query(KEPT_SQL).to_pylist() == big  # what the tables show is untouched
    assert verify_catalog(Catalog(root), grace_s=0).clean

    again = curate(96)  # computed again, not a stale cache hit on deleted files
    assert [r["clip_id"] for r in again] == [r["clip_id"] for r in small]
    assert {probe(Catalog(root).artifacts.blobs.resolve(r["clip_uri"]), decode="none").height for r in again} == {96}
