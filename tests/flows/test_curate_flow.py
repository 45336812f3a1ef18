"""The curation flow on the real videos: keeps and rejects with reasons, survives broken files, exports
clips, dedups copies against the catalog, and a warm re-run is all Cached and opens no video."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from physflow.data_catalog import Catalog
from physflow.data_catalog.catalog import STALE_VIEW
from physflow.data_catalog.seal import SEAL_FILE
from physflow.flows import curate, runtime
from physflow.flows.curate import CurateParams, curate_flow
from physflow.stages.analyze import AnalyzeConfig
from physflow.stages.clip_export import ExportConfig
from physflow.stages.common import video_io
from physflow.stages.common.video_io import iter_frames, probe, write_video
from physflow.stages.curate_filter import FilterConfig
from tests.flows.test_ingest_flow import _task_states

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.timeout(600)]

CONSUMER_SQL = (
    "SELECT c.clip_id, c.video_id, c.start_frame, c.end_frame, c.clip_uri, v.uri "
    "FROM clips c JOIN videos v USING (video_id) WHERE c.keep"
)


def _params(inputs: list[Path], catalog: Path) -> CurateParams:
    return CurateParams(inputs=[str(p) for p in inputs], catalog=str(catalog), shard_size=4,
                        export=ExportConfig(short_side=128, max_frames=60))


@pytest.fixture(scope="module")
def curated(real_videos, tmp_path_factory, prefect_api):
    params = _params([real_videos], tmp_path_factory.mktemp("curate") / "catalog")
    state = curate_flow(params, return_state=True)
    return params, state.result()


def _by_file(params: CurateParams) -> dict[str, list[dict]]:
    rows = Catalog(params.catalog).query(
        "SELECT regexp_extract(v.uri, '[^/]*$') AS file, c.* FROM clips c JOIN videos v USING (video_id) "
        "ORDER BY file, c.start_frame").to_pylist()
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["file"], []).append(row)
    return out


def test_keeps_physical_clips_and_rejects_with_reasons(curated):
    params, result = curated
    files = _by_file(params)
    for name in ("sam2_05_default_juggle.mp4", "decord_flipping_a_pancake.mkv", "sam2_04_coffee_pour.mp4"):
        assert any(c["keep"] for c in files[name]), files[name]
    wall = files["testfiles_static_wall.mov"]
    assert not any(c["keep"] for c in wall)
    assert all("static" in c["reject_reason"] and "too_short" in c["reject_reason"] for c in wall)
    dark = files["moviepy_no_duration_dark.webm"]
    assert not any(c["keep"] for c in dark) and all("dark" in c["reject_reason"] for c in dark)
    assert result.summary["kept"] >= 3 and result.summary["rejected_by_reason"]
    # The summary (from the rows the stages returned) counts what the catalog's clips view shows.
    rows = [c for clips in files.values() for c in clips]
    assert (result.summary["clips"], result.summary["kept"]) == (len(rows), sum(bool(c["keep"]) for c in rows))
    errors = sum(1 for c in rows if not c["keep"] and c["error"])
    assert result.summary["rejected_by_reason"].get("error", 0) == errors


def test_broken_files_become_error_rows(curated):
    """A file of which no frame decodes is an error row; one damaged after frame 28 of its 50 (at 10 fps) keeps
    those 28 frames as a clip, and the rest is an error row that says where decoding stopped."""
    params, result = curated
    files = _by_file(params)
    empty = files["mp4parse_zero_empty_stsc.mp4"]
    assert empty and all(c["error"] and not c["keep"] for c in empty)
    damaged = {c["clip_id"].split(":")[1]: c for c in files["decord_corrupted.mp4"]}
    assert set(damaged) == {"0-28", "28-50"}
    assert damaged["0-28"]["error"] is None and damaged["0-28"]["duration_s"] == pytest.approx(2.8)
    assert damaged["28-50"]["error"] == "decode failed after frame 28 of the 50 listed: InvalidDataError"
    assert not damaged["28-50"]["keep"]
    assert result.summary["videos"] == 14


def test_kept_clips_are_h264_files_readable_by_the_consumer_query(curated):
    params, _ = curated
    kept = Catalog(params.catalog).query(CONSUMER_SQL).to_pylist()
    assert kept
    for row in kept[:3]:
        info = probe(row["clip_uri"])
        assert info.error is None and info.codec == "h264" and min(info.width, info.height) <= 128
        assert 0 < info.n_frames <= 60 and Path(row["uri"]).exists()


def test_warm_rerun_is_cached_and_opens_no_video(curated, monkeypatch):
    """... and starts no worker process: a warm command would otherwise start them (about a second of imports)
    and wait for them at exit. The catalog's seal is checked once for the run's five stages."""
    params, cold = curated
    opened = video_io.OPEN_COUNT
    started: list[tuple[type, ...]] = []
    monkeypatch.setattr(runtime, "start_workers", lambda *stages: started.append(stages))
    checks: list[int] = []
    seal_holds = Catalog.seal_holds
    monkeypatch.setattr(Catalog, "seal_holds", lambda self: checks.append(1) or seal_holds(self))
    state = curate_flow(params, return_state=True)
    warm = state.result()
    assert video_io.OPEN_COUNT == opened and started == [] and checks == [1]
    states = _task_states(state.state_details.flow_run_id, warm.refs)
    assert states and set(states) == {"Cached"}, states
    assert [r.key for r in warm.refs] == [r.key for r in cold.refs]
    assert warm.summary["kept"] == cold.summary["kept"]


def test_dedup_reference_is_read_from_the_registry_when_every_clip_is_the_runs(curated, monkeypatch):
    """The dedup reference (canonical clips of other videos) of a catalog whose measures are all this run's is
    empty, from the registry alone; with a shard that is not the run's, it is the canonical clips the `clips` view
    shows for its videos, read from the artifacts without a query of the view."""
    params, result = curated
    catalog = Catalog(params.catalog)
    analyzed = [r for r in result.refs if r.stage == "analyze"]
    videos = {r["video_id"] for r in catalog.query("SELECT video_id FROM videos").to_pylist()}
    canonical = "phash IS NOT NULL AND error IS NULL AND duplicate_of IS NULL AND keep IS NOT NULL"
    expected = {ref.key: catalog.query(
        f"SELECT clip_id FROM clips WHERE {canonical} AND list_contains(?::VARCHAR[], video_id) ORDER BY clip_id",
        [catalog.artifacts.read("analyze", ref.key).column("video_id").to_pylist()]).column("clip_id").to_pylist()
        for ref in analyzed}
    queries: list[str] = []
    query = Catalog.query
    monkeypatch.setattr(Catalog, "query", lambda self, sql, p=None: queries.append(sql) or query(self, sql, p))
    assert curate._reference(catalog, videos, analyzed).num_rows == 0 and queries == []
    other = next(ref for ref in analyzed if expected[ref.key])  # a shard with canonical clips, as if not the run's
    theirs = set(catalog.artifacts.read("analyze", other.key).column("video_id").to_pylist())
    reference = curate._reference(catalog, videos - theirs, [r for r in analyzed if r is not other]).to_pylist()
    assert queries == [] and [r["clip_id"] for r in reference] == expected[other.key]
    phashes = {r["clip_id"]: r["phash"] for r in catalog.query("SELECT clip_id, phash FROM clips").to_pylist()}
    assert all(r["phash"] == phashes[r["clip_id"]] and r["video_id"] in theirs for r in reference)


def test_a_stage_of_one_job_rebuilds_its_view_as_it_registers(real_videos, tmp_path, monkeypatch):
    """A stage run as one job (every stage, for one video) rebuilds its table's view in its registration's writer
    session, with no session of its own afterwards, and leaves no view stale: the consumer query sees it all."""
    video = tmp_path / "in" / "pancake.mkv"
    video.parent.mkdir()
    shutil.copy(real_videos / "decord_flipping_a_pancake.mkv", video)
    registered: list[tuple[str, bool]] = []
    refreshed: list[str] = []
    register, refresh_views = Catalog.register, Catalog.refresh_views
    monkeypatch.setattr(Catalog, "register",
                        lambda self, m, views=True: registered.append((m.stage, views)) or register(self, m, views))
    monkeypatch.setattr(Catalog, "refresh_views", lambda self: refreshed.append(self.root.uri) or refresh_views(self))
    params = _params([video], tmp_path / "catalog")
    curate_flow(params)
    assert {stage for stage, _ in registered} == {"ingest", "analyze", "dedup", "curate_filter", "clip_export"}
    assert all(views for _, views in registered) and refreshed == [], (registered, refreshed)
    catalog = Catalog(params.catalog)
    stale = catalog.query("SELECT name FROM physflow_meta WHERE starts_with(name, ?)", [STALE_VIEW]).num_rows
    assert stale == 0 and catalog.query(CONSUMER_SQL).num_rows == 2


def test_a_config_changed_back_shows_its_clips_again(real_videos, tmp_path):
    """An export size changed and changed back runs Cached, and the views show its clips again, not the other
    size's: the artifact a run uses is its shard's current one, whether the catalog's seal vouched for it (a warm
    run) or the run found it complete (no seal)."""
    video = tmp_path / "in" / "pancake.mkv"
    video.parent.mkdir()
    shutil.copy(real_videos / "decord_flipping_a_pancake.mkv", video)
    catalog = tmp_path / "catalog"

    def run(short_side: int) -> tuple[set[int], int]:
        curate_flow(CurateParams(inputs=[str(video)], catalog=str(catalog),
                                 export=ExportConfig(short_side=short_side, max_frames=30)))
        rows = Catalog(catalog).query(CONSUMER_SQL).to_pylist()
        artifacts = Catalog(catalog).query("SELECT count(*) AS n FROM artifacts").to_pylist()[0]["n"]
        return {probe(r["clip_uri"], decode="none").height for r in rows}, artifacts

    assert run(128)[0] == {128}
    sizes, artifacts = run(96)
    assert sizes == {96}
    assert run(128) == ({128}, artifacts)  # sealed: nothing computed, nothing new registered
    (catalog / SEAL_FILE).unlink()
    assert run(96) == ({96}, artifacts)


def test_an_analysis_config_changed_back_shows_its_measures_and_links_again(real_videos, tmp_path):
    """Analysis at another working width and back: the third run is Cached, and the current measures and duplicate
    links (dedup's one job, whose shard is the run's analysis shards) are its own, not the second run's."""
    video = tmp_path / "in" / "pancake.mkv"
    video.parent.mkdir()
    shutil.copy(real_videos / "decord_flipping_a_pancake.mkv", video)
    catalog = tmp_path / "catalog"

    def run(width: int) -> dict[str, set[str]]:
        result = curate_flow(CurateParams(inputs=[str(video)], catalog=str(catalog),
                                          analyze=AnalyzeConfig(width=width), export=ExportConfig(max_frames=30)))
        return {stage: {r.key for r in result.refs if r.stage == stage} for stage in ("analyze", "dedup")}

    first, second, third = run(256), run(192), run(256)
    assert third == first and second["dedup"] != first["dedup"]
    current = Catalog(catalog).current_keys
    assert current("clip_measures") == third["analyze"] and current("clip_duplicates") == third["dedup"]


def test_a_run_with_new_videos_starts_the_workers_at_ingest(real_videos, tmp_path, monkeypatch):
    """The worker processes start once, when ingest has a video to probe (before anything is registered), so
    their start overlaps it."""
    from physflow.stages.analyze import AnalyzeStage
    from physflow.stages.clip_export import ExportStage

    folder, catalog = tmp_path / "videos", tmp_path / "catalog"
    folder.mkdir()
    shutil.copy(real_videos / "decord_flipping_a_pancake.mkv", folder)
    started: list[tuple[tuple[type, ...], int]] = []
    real_start = runtime.start_workers

    def record(*stages: type) -> None:
        started.append((stages, len(Catalog(catalog).registered())))
        real_start(*stages)

    monkeypatch.setattr(runtime, "start_workers", record)
    result = curate_flow(_params([folder], catalog))
    assert result.summary["kept"] >= 1
    assert started == [((AnalyzeStage, ExportStage), 0)]


def test_each_stage_publishes_its_stats_once_and_each_shard_in_its_state(curated):
    """A stage's computed shards publish one stats table, summed over them, in the flow run (not one each: at
    scale that was most of the Prefect server's work); each shard's counters are its task run's state message."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

    params, result = curated
    shards = [r for r in result.refs if r.stage == "analyze"]
    (flow_run_id,) = {row["flow_run_id"] for row in Catalog(params.catalog).query(
        "SELECT flow_run_id FROM artifacts WHERE stage = 'analyze'").to_pylist()}
    this_run = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    with get_client(sync_client=True) as client:
        mine = [run for run in client.read_task_runs(flow_run_filter=this_run, limit=200)
                if run.name.startswith("analyze")]
        stats = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["analyze-stats"])),
                                      flow_run_filter=this_run)
        # published beside the run (`SealCheckpoints.aside`), each stage's is there when the flow returns, the
        # last stage's too
        each = {stage: client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"{stage}-stats"])), flow_run_filter=this_run)
            for stage in ("ingest", "analyze", "dedup", "curate-filter", "clip-export")}
    assert {stage: len(found) for stage, found in each.items()} == dict.fromkeys(each, 1)
    assert len(stats) == 1
    table = {row["measure"]: row["value"] for row in json.loads(stats[0].data)}
    assert table["shards computed"] == len(shards) >= 1
    assert table["items"] == sum(r.stats["items"] for r in shards)
    assert table["rows out"] == sum(r.rows for r in shards)
    messages = {run.name: run.state.message for run in mine}
    assert len(messages) == len(shards)
    assert all(messages[f"analyze-{r.shard[:8]}"].startswith(f"{r.stats['items']} items, ") for r in shards)


def test_copies_are_duplicates_of_the_first(real_videos, tmp_path):
    original = tmp_path / "first" / "pancake.mkv"
    original.parent.mkdir()
    shutil.copy(real_videos / "decord_flipping_a_pancake.mkv", original)
    catalog = tmp_path / "catalog"
    curate_flow(_params([original], catalog))
    later = tmp_path / "later"
    later.mkdir()
    shutil.copy(original, later / "same_bytes_other_name.mkv")
    fps = probe(original, decode="none").fps
    write_video(later / "reencoded_small.mp4", (f for _, f in iter_frames(original, width=320)), fps, crf=32)
    curate_flow(_params([later], catalog))
    rows = Catalog(catalog).query("SELECT * FROM clips ORDER BY video_id, start_frame").to_pylist()
    first = [r for r in rows if r["keep"]]
    copies = [r for r in rows if r["duplicate_of"]]
    # The same bytes under another name are the same video: its clips exist once, still kept.
    assert len({r["video_id"] for r in rows}) == 2 and len(first) == 2
    assert len(copies) == 2 and {r["duplicate_of"] for r in copies} == {r["clip_id"] for r in first}
    assert all(r["reject_reason"].startswith("duplicate:") for r in copies)


def test_relevance_hook_without_scores_fails_before_work(tmp_path):
    params = _params([tmp_path], tmp_path / "catalog").model_copy(
        update={"filter": FilterConfig(min_motion_relevance=0.5)})
    opened = video_io.OPEN_COUNT
    with pytest.raises(ValueError, match="motion_relevance"):
        curate_flow(params)
    assert video_io.OPEN_COUNT == opened


def test_upstream_rewrite_with_same_content_keeps_the_decisions_visible(real_videos, tmp_path):
    video = tmp_path / "in" / "juggle.mp4"
    video.parent.mkdir()
    shutil.copy(real_videos / "sam2_05_default_juggle.mp4", video)
    params = _params([video], tmp_path / "catalog")
    curate_flow(params)
    before = Catalog(params.catalog).query(CONSUMER_SQL + " ORDER BY clip_id").to_pylist()
    # A decoder thread count changes the analysis key, not its rows: analyze reruns, the rest stays Cached.
    changed = params.model_copy(update={"analyze": params.analyze.model_copy(update={"threads": 1})})
    state = curate_flow(changed, return_state=True)
    refs = state.result().refs
    states = dict(_task_states(state.state_details.flow_run_id, refs, with_names=True))
    assert states["analyze"] == "Completed" and states["clip_export"] == "Cached", states
    assert before and Catalog(params.catalog).query(CONSUMER_SQL + " ORDER BY clip_id").to_pylist() == before
