"""curate-videos: ingest -> analyze (shots + quality, one decode per video) -> dedup -> filter -> export.

Every stage runs through flows/runtime.py, so each shard is a Prefect task cached by its artifact key;
a stage's input keys are content fingerprints of what it reads (the upstream rows or artifacts).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog
from physflow.data_catalog.catalog import release_instances
from physflow.data_catalog.keys import cache_key, canonical_json, sha256_text, shard_id
from physflow.data_catalog.schemas import CLIP_DECISIONS, CLIP_DUPLICATES, CLIP_FILES, CLIP_MEASURES, CLIPS
from physflow.data_catalog.sharding import content_shards
from physflow.flows.ingest import DEFAULT_CATALOG, SETTLE_HELP, IngestParams, found_inputs, ingest_jobs
from physflow.flows.prefect_flow import flow
from physflow.flows.run_memo import memo_key, recall, record
from physflow.flows.runtime import (
    ArtifactRef,
    StageJob,
    forget_task_results,
    meanwhile,
    plan,
    run_jobs,
    seal_checkpoints,
    workers_on_first_work,
)
from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.base import Stage, StageConfig
from physflow.stages.clip_export import ExportConfig, ExportItem, ExportStage
from physflow.stages.curate_filter import FilterConfig, FilterStage
from physflow.stages.dedup import REFERENCE, DedupConfig, DedupInput, DedupStage, ReferenceIndex
from physflow.stages.ingest import IngestConfig, IngestItem, IngestStage, video_id

SHARD_VIDEOS = 64
"""Videos an analysis (and export) shard holds on average, by default (8 before). Every shard costs a task run and a
registry session (about 35 ms of the Prefect server's time and 25-50 ms of the flow process's), whatever its
videos: at 16 a shard, 1,000 short generated videos took 137 task runs, and a third of the run's CPU went to the
flow process and the server. At 64 (benchmarks/curate_scale.py 1000, 30 task runs) the run went from 52-54 to 63
videos/s, the flow process's CPU from 6.6-7.0 to 3.3-3.5 s and the server's from 4.6-4.8 to 1.8-1.9 s, and adding
10 videos took 1.4 s instead of 2.0. The 14 shared real videos curate cold in one shard a stage instead of four:
4.59 s against 4.64 s (benchmarks/curate.py's command runs, medians of six alternations), the flow process's CPU
0.90 s against 1.01. Larger shards cost little elsewhere: a video added later still computes alone (its shard's
other rows are reused from the catalog), the workers take videos, not shards (each shard spreads its videos over
every worker process), and a killed run resumes from the artifacts already complete."""

INGEST_SHARDS = 8
"""Ingest's shards hold this many times the videos of an analysis shard: probing a video costs about a hundredth
of analysing it, while every shard costs a task run and a registration (tens of milliseconds of the flow's and the
server's time each). On 300 generated videos ingest took 0.3 s instead of 0.7 s, and a cold run about 0.4 s less;
a video added later is still the only one probed (its shard's other rows are reused)."""

FILTER_GROUP = 8
"""Analysis shards per filter job, about: deciding a clip takes microseconds, while every job costs a task run and
a registration. A new video recomputes its group's decisions (a few hundred rows), the other groups stay Cached."""


BATCH_VIDEOS = 1024
"""Videos per batch of a run, about (`CurateParams.batch_videos`; a batch ends at the ingest shard that reaches it,
or earlier where the content says, `_batches`). Each batch costs its stages' fixed steps once more (a dedup job,
filter jobs, the views rebuilt, idle workers while a stage's last shards finish), which did not show in cold
throughput on generated videos: 53.8 videos/s at 1,000 (one batch), 56.2 at 4,000 and 8,000 (five and nine)."""


class CurateParams(BaseModel):
    """Parameters of the curation flow: inputs, catalog, sharding, and one config per stage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: list[str] = Field(..., min_length=1, description="Folders, globs, text files listing paths, files, or object-store URIs (s3://bucket/prefix?...).")
    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI.")
    shard_size: int = Field(SHARD_VIDEOS, ge=1, le=100_000, description=f"Average videos per cached analysis/export shard (an ingest shard holds {INGEST_SHARDS} times as many); each shard is a task run and a registration.")
    batch_videos: int = Field(
        BATCH_VIDEOS, ge=1, le=10_000_000,
        description="Videos curated together, at most (plus one ingest shard): a run over more curates them in "
        "batches (grouped by content, so a video added later changes its batch, now and then the next), one after "
        "another, each deduplicated against the clips of the batches before it as a later run is against an "
        "earlier one. The flow process holds one batch's rows (what it keeps about every video is a few KiB: "
        "benchmarks/curate_scale.py --memory).",
    )
    settle_s: float = Field(0.0, ge=0.0, le=86_400.0, description=SETTLE_HELP)
    ingest: IngestConfig = Field(default_factory=lambda: IngestConfig(decode_check="none"))
    analyze: AnalyzeConfig = Field(default_factory=AnalyzeConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    filter: FilterConfig = Field(default_factory=FilterConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)


class CurateResult(BaseModel):
    refs: list[ArtifactRef]
    summary: dict[str, Any]


@flow(name="curate-videos", log_prints=True)
def curate_flow(params: CurateParams) -> CurateResult:
    start = time.perf_counter()
    catalog = Catalog(params.catalog)
    relevance = _relevance_scores(catalog, params.filter)  # a missing score table fails before any work
    ingest = IngestParams(inputs=params.inputs, catalog=params.catalog, ingest=params.ingest, settle_s=params.settle_s,
                          shard_size=_ingest_shard(params))
    refs: list[ArtifactRef] = []
    counts: list[dict[str, Any]] = []
    # Analysis and export run on worker processes, started as soon as ingest or they have work to do (new
    # videos: their start overlaps ingest); a run with nothing for them to compute starts none.
    # The catalog is sealed after a batch, when the last seal took at most a tenth of the time since (it proves the
    # whole catalog), and at the end: not after each stage of each batch.
    # A run over the same inputs and parameters as one memoised on a catalog unchanged since stands as it was
    # (flows/run_memo.py): no job planned, no artifact read; its summary is published as its stages are shown.
    summary: dict[str, Any] = {}

    def publish(run_counts: list[dict[str, Any]]) -> None:
        summary.update(_summary(run_counts, seconds=time.perf_counter() - start))
        create_markdown_artifact(markdown=_markdown(summary), key="curate-summary", description="curation summary")

    with workers_on_first_work(AnalyzeStage, ExportStage, early=[IngestStage]), \
            found_inputs(ingest, catalog) as items, seal_checkpoints() as sealing:
        memo = memo_key(params, ((item.path, item.sha256, item.frame_rate) for item in items), _stages(params))
        recalled = recall(catalog, memo, alongside=lambda result: publish(result["counts"]))
        if recalled is not None:
            refs, counts = recalled[0], recalled[1]["counts"]
            print(f"nothing changed since the last run over these {len(items)} inputs: its {len(refs)} artifacts "
                  "stand (the catalog's seal holds)")
        batches = _batches(items, params) if recalled is None else []
        reference = _Reference(catalog, {video_id(item.sha256) for item in items}, params.dedup)
        for number, batch in enumerate(batches, 1):
            if len(batches) > 1:
                print(f"batch {number} of {len(batches)}: {len(batch)} videos")
            batch_refs, batch_counts = _curate_batch(params, ingest, catalog, batch, reference=reference,
                                                    relevance=relevance)
            refs += batch_refs
            counts.append(batch_counts)
            # After the last batch the run's summary goes out while the catalog is written and sealed.
            with meanwhile(publish, counts) if number == len(batches) else contextlib.nullcontext():
                sealing.checkpoint()
            forget_task_results()
            if number < len(batches):
                release_instances()  # the process's DuckDB instances, made again for the next batch
    if recalled is None:
        record(catalog, memo, refs, {"counts": counts})
        if not batches:  # else published with the last batch's checkpoint
            publish(counts)
    print(f"curated {summary['videos']} videos: {summary['kept']} clips kept, {summary['rejected']} rejected")
    return CurateResult(refs=refs, summary=summary)


def _stages(params: CurateParams) -> list[Stage[Any, Any]]:
    """The run's stages under its configs (for the memo's key: their versions and weights)."""
    return [IngestStage(params.ingest), AnalyzeStage(params.analyze), DedupStage(params.dedup),
            FilterStage(params.filter), ExportStage(params.export)]


def _batches(items: list[IngestItem], params: CurateParams) -> list[list[IngestItem]]:
    """The run's videos in batches of whole ingest shards, in content order: a batch ends after the shard that
    takes it to `batch_videos`, or, once it holds a quarter of that, after a shard whose last content key (read as
    a number) is divisible by `batch_videos` rounded up to whole shard targets (about once in that many videos).
    Ingest and analysis shards both end at content keys (a video's id is the start of its sha256), so a batch's
    boundaries are theirs: a run's artifacts are the same in one batch or several. A video added later moves the
    boundaries of its batch and of those after it up to the next boundary its content chose (their dedup and
    filter jobs compute again; no shard of ingest, analysis or export); a batch after those computes its dedup
    again only where its clips lie near the added video's (`_Reference`)."""
    target, shard_target = params.batch_videos, _ingest_shard(params)
    natural = -(-target // shard_target) * shard_target  # a multiple of the shards' own: it ends shards
    batches: list[list[IngestItem]] = []
    current: list[IngestItem] = []
    for shard in content_shards(items, [item.sha256 for item in items], shard_target):
        current += shard
        if len(current) >= target or (len(current) >= target // 4 and int(shard[-1].sha256[:12], 16) % natural == 0):
            batches.append(current)
            current = []
    return [*batches, current] if current or not batches else batches


def _ingest_shard(params: CurateParams) -> int:
    return min(params.shard_size * INGEST_SHARDS, 100_000)


def _curate_batch(params: CurateParams, ingest: IngestParams, catalog: Catalog, items: list[IngestItem], *,
                  reference: _Reference, relevance: dict[str, float] | None
                  ) -> tuple[list[ArtifactRef], dict[str, Any]]:
    """Ingest, analyze, dedup, filter and export one batch of the run's videos: the batch's artifacts (stage by
    stage) and its counts."""
    ingested = run_jobs(ingest_jobs(ingest, catalog, items))
    videos = _unique_videos(_rows(catalog, ingested))
    readable = [v for v in videos if not v.get("error")]
    analyzed = run_jobs(plan(AnalyzeStage, params.analyze, readable, keys=[_video_key(v) for v in readable],
                             group_keys=[v["video_id"] for v in readable], catalog=catalog,
                             shard_size=params.shard_size))
    measured = [(ref, _rows(catalog, [ref])) for ref in analyzed]
    clips = [row for _, rows in measured for row in rows]
    deduped = run_jobs(_dedup_jobs(catalog, params.dedup, analyzed, clips, reference.near(analyzed, clips)))
    links = {r["clip_id"]: r for r in _rows(catalog, deduped)}
    filtered = run_jobs(_filter_jobs(catalog, params.filter, measured, links, relevance))
    decisions = {r["clip_id"]: r for r in _rows(catalog, filtered)}
    exported = run_jobs(_export_jobs(catalog, params.export, measured, decisions,
                                     {v["video_id"]: v["uri"] for v in videos}))
    files = {r["clip_id"]: r for r in _rows(catalog, exported)}
    reference.add(clips, links, decisions, files)
    counts = _counts(videos, clips, links=links, decisions=decisions, files=files, analyzed=analyzed)
    return [*ingested, *analyzed, *deduped, *filtered, *exported], counts


def _shard_job(stage_cls: type[Stage[Any, Any]], config: StageConfig, inputs: list[Any], *, key: str,
               shard: str, catalog: Catalog) -> StageJob:
    """One job over the clips of analysis shards, under `shard` (their identity): a newer output for the same
    videos supersedes the older one, and a shard whose inputs did not change keeps its key (Cached)."""
    weights = stage_cls(config).weights_sha256()
    return StageJob(stage_cls=stage_cls, config=config, inputs=inputs, input_keys=[key], shard=shard,
                    key=cache_key(stage_cls.name, stage_cls.VERSION, config, [key], weights),
                    catalog_root=str(catalog.root.uri))


def _filter_jobs(catalog: Catalog, config: FilterConfig, measured: list[tuple[ArtifactRef, list[dict[str, Any]]]],
                 links: dict[str, dict[str, Any]], relevance: dict[str, float] | None) -> list[StageJob]:
    """One filter job per group of analysis shards (`FILTER_GROUP`, grouped by their identities), keyed by what
    its decisions read: the shards' measures, their duplicate links and relevance scores (so a new video in another
    group leaves it Cached)."""
    jobs = []
    for group in content_shards(measured, [ref.shard for ref, _ in measured], FILTER_GROUP):
        rows = [_filter_row(r, links, relevance) for _, clips in group for r in clips]
        read = sorted((r["clip_id"], r["duplicate_of"], r["dup_distance"], r.get("motion_relevance")) for r in rows)
        key = sha256_text(canonical_json({"measures": sorted(ref.content_sha256 for ref, _ in group),
                                          "links": read}))
        shard = shard_id(FilterStage.name, [ref.shard for ref, _ in group])
        jobs.append(_shard_job(FilterStage, config, [rows], key=key, shard=shard, catalog=catalog))
    return jobs


def _export_jobs(catalog: Catalog, config: ExportConfig, measured: list[tuple[ArtifactRef, list[dict[str, Any]]]],
                 decisions: dict[str, dict[str, Any]], uris: dict[str, str]) -> list[StageJob]:
    """One export job per analysis shard that has kept clips, keyed by the kept clips' frame ranges and sizes."""
    jobs = []
    for ref, clips in measured:
        items, key = _export_items(catalog, clips, decisions, uris)
        if items:
            jobs.append(_shard_job(ExportStage, config, items, key=key, shard=ref.shard, catalog=catalog))
    return jobs


def _dedup_jobs(catalog: Catalog, config: DedupConfig, analyzed: list[ArtifactRef], clips: list[dict[str, Any]],
                reference: tuple[pa.Table, str]) -> list[StageJob]:
    """The batch's one job: every clip of the batch against the canonical clips near them (`_Reference.near`: a
    table and its `_set_digest`), keyed by the batch's analysis and those clips. Its shard is the batch's analysis
    shards (their identities, not their content), as a filter group's is: a run over the same videos with another
    analysis config supersedes the links, and one changed back makes its own current again (its shard was its
    content key, so the links of the last config computed showed instead)."""
    table, digest = reference
    key = sha256_text(canonical_json({"analyzed": sorted(r.content_sha256 for r in analyzed),
                                      "reference": digest}))
    shard = shard_id(DedupStage.name, [ref.shard for ref in analyzed])
    return [_shard_job(DedupStage, config, [DedupInput(clips, table)], key=key, shard=shard, catalog=catalog)]


def _filter_row(row: dict[str, Any], links: dict[str, dict[str, Any]],
                relevance: dict[str, float] | None) -> dict[str, Any]:
    link = links.get(row["clip_id"], {})
    out = {**row, "duplicate_of": link.get("duplicate_of"), "dup_distance": link.get("dup_distance")}
    if relevance is not None:
        out["motion_relevance"] = relevance.get(row["clip_id"], relevance.get(row["video_id"]))
    return out


def _rows(catalog: Catalog, refs: list[ArtifactRef]) -> list[dict[str, Any]]:
    tables = [catalog.artifacts.read(r.stage, r.key) for r in refs]
    return pa.concat_tables(tables).to_pylist() if tables else []


def _unique_videos(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per video_id: the same bytes under two names are one video (content-addressed)."""
    seen: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (r["video_id"], r["uri"])):
        seen.setdefault(row["video_id"], row)
    return list(seen.values())


def _video_key(video: dict[str, Any]) -> str:
    """Content key of a video for analysis: its probed facts and byte hash, not its path."""
    return sha256_text(canonical_json({k: v for k, v in video.items() if k not in ("uri", "bytes")}))


def _refs_key(refs: list[ArtifactRef]) -> str:
    return sha256_text(canonical_json(sorted(r.content_sha256 for r in refs)))


class _Reference:
    """The dedup reference of each batch of a run: the canonical clips of the catalog's other videos (read once,
    `_reference`) and those of the run's batches before it (kept as each ends), indexed by their middle keyframe
    hashes (`ReferenceIndex`, about 40 bytes a clip) in parts merged as they grow: the same set a run over that
    batch alone would read after the batches before it. A batch's dedup reads, and is keyed by, only the clips of
    that set near its own (`near`): a clip that comes or goes elsewhere in the catalog leaves its key as it was, so
    a video added to an earlier batch (or to the catalog) makes a later batch compute its dedup again only where one
    of its clips lies near one of the added video's. Keyed by the whole set, every batch after the changed one
    computed it again, against everything before it."""

    def __init__(self, catalog: Catalog, run_videos: set[str], config: DedupConfig):
        self._catalog = catalog
        self._run_videos = run_videos
        self._config = config
        self._parts: list[ReferenceIndex] | None = None

    def near(self, analyzed: list[ArtifactRef], clips: list[dict[str, Any]]) -> tuple[pa.Table, str]:
        """The reference clips the dedup of `clips` (a batch's, from its analysis shards `analyzed`) compares with
        (`ReferenceIndex.candidates`), sorted by clip_id, and their digest (`_set_digest`)."""
        if self._parts is None:
            self._parts = [ReferenceIndex(_reference(self._catalog, self._run_videos, analyzed), self._config.chunks)]
        found = [part.candidates(clips, self._config.max_distance) for part in self._parts if len(part)]
        table = pa.concat_tables(found).sort_by("clip_id") if found else REFERENCE.empty_table()
        return table, f"{table.num_rows}:{_set_digest(table):064x}"

    def add(self, clips: list[dict[str, Any]], links: dict[str, dict[str, Any]],
            decisions: dict[str, dict[str, Any]], files: dict[str, dict[str, Any]]) -> None:
        """A curated batch's canonical clips, from the rows its stages returned (its clips in order, and each later
        stage's rows by clip_id), judged by the rule `_reference` applies to the catalog's tables (`_canonical`)."""
        batch = {name: [{**row, "clip_id": clip} for clip, row in rows.items()]
                 for name, rows in ((CLIP_DUPLICATES, links), (CLIP_DECISIONS, decisions), (CLIP_FILES, files))}
        table = _canonical(_keyed(_rows_table(clips), _measured),
                           lambda name, values: _keyed(_rows_table(batch[name]), values)).cast(REFERENCE)
        assert self._parts is not None, "a batch's reference is read before the batch is added"
        self._parts.append(ReferenceIndex(table, self._config.chunks))
        # Parts that grow by halves at most: a batch probes a few indexes (about the logarithm of the number of
        # batches), not one a batch, and a clip is indexed again a few times.
        while len(self._parts) > 1 and len(self._parts[-2]) <= 2 * len(self._parts[-1]):
            last = self._parts.pop()
            self._parts[-1] = self._parts[-1].merged(last)


_DIGEST_MODULUS = 1 << 256


def _set_digest(table: pa.Table) -> int:
    """A digest of a reference table's rows as a set: the sum of their sha256 values modulo 2**256, so that the same
    clips give the same digest in any order and however the run's batches added them."""
    total = 0
    for batch in table.select(REFERENCE.names).to_batches(max_chunksize=65_536):
        for clip, video, phash in zip(*(column.to_pylist() for column in batch.columns), strict=True):
            total += int.from_bytes(hashlib.sha256(f"{clip}\t{video}\t{phash}".encode()).digest(), "big")
    return total % _DIGEST_MODULUS


Values = Callable[[pa.Table], dict[str, pa.ChunkedArray]]
"""Columns computed from a table's columns (`_keyed`)."""


def _measured(table: pa.Table) -> dict[str, pa.ChunkedArray]:
    """A clip that may be canonical, by its `clip_measures` row: hashed, not failed; with its video and pHash."""
    return {"ok": _all(_valid(table, "phash"), _none(table, "error")), "video_id": _column(table, "video_id"),
            "phash": _column(table, "phash")}


_VERDICTS: tuple[tuple[str, Callable[[pa.Table], pa.ChunkedArray], bool], ...] = (
    (CLIP_DUPLICATES, lambda t: _all(_none(t, "duplicate_of"), _none(t, "error")), True),  # not linked, not failed
    (CLIP_DECISIONS, lambda t: _all(_valid(t, "keep"), _none(t, "error")), False),  # kept or rejected, not failed
    (CLIP_FILES, lambda t: _none(t, "error"), True),  # not failed in export
)
"""Each later table's verdict on a clip's row there, and its verdict on a clip it has no row for (no row in the
decisions: undecided)."""


def _canonical(measured: pa.Table, rows_of: Callable[[str, Values], pa.Table]) -> pa.Table:
    """The canonical clips (REFERENCE's columns) of `measured` (clip_id, ok, video_id, phash: `_measured` of each
    clip's row): those every table of `_VERDICTS` passes, as the `clips` view combines the tables
    (data_catalog/views.py). `rows_of(table, values)` gives a table's rows, one a clip, as clip_id and the `values`
    of them (here its verdict as `ok`); one table at a time, so that only one is held."""
    ok = measured.column("ok")
    for table, verdict, missing in _VERDICTS:
        judged = rows_of(table, lambda t, verdict=verdict: {"ok": verdict(t)})
        at = pc.index_in(measured.column("clip_id"), value_set=judged.column("clip_id").combine_chunks())
        ok = _all(ok, pc.fill_null(judged.column("ok").take(at), missing))
        del judged, at
    return measured.filter(ok).select(REFERENCE.names)


def _keyed(table: pa.Table, values: Values) -> pa.Table:
    """clip_id and the `values` columns computed from `table`'s columns."""
    return pa.table({"clip_id": _column(table, "clip_id"), **values(table)})


def _rows_table(rows: list[dict[str, Any]]) -> pa.Table:
    """The columns the rule reads of a batch's rows (None where a row has no such value)."""
    return pa.table({name: pa.array([row.get(name) for row in rows], pa.bool_() if name == "keep" else pa.string())
                     for name in _REFERENCE_COLUMNS})


def _reference(catalog: Catalog, run_videos: set[str], analyzed: list[ArtifactRef]) -> pa.Table:
    """Canonical hashed clips already in the catalog from other videos (the dedup reference set), sorted by clip_id:
    measured with a pHash, decided, no duplicate and no error in any stage, as the `clips` view combines its tables
    (data_catalog/views.py). Read one artifact at a time (`Catalog.scan`) into Arrow columns; each table's newest
    row per clip found by a stable sort, and the tables matched by clip_id in Arrow: a query of the view joins four
    tables over every artifact of the catalog, in memory that grows with it (52 MiB at 2,000 videos), and the rows
    as Python values took about 1 KiB a clip. Empty, from the registry alone, when every clip the catalog holds is
    this run's (a new catalog, a re-run of the same inputs: its current measures are this run's analysis shards), or
    from one column when they are not this batch's shards but hold only the run's videos (a re-run of a run of
    several batches: at 4,000 videos the four tables' scan took 0.75 s of a 2.5 s warm run)."""
    current = catalog.current_keys(CLIP_MEASURES, CLIPS)
    if current is not None and current <= {ref.key for ref in analyzed}:
        return REFERENCE.empty_table()
    if _only_videos(catalog, run_videos):
        return REFERENCE.empty_table()
    measured = _newest(catalog, CLIP_MEASURES, _measured)
    kept = [_canonical(measured, functools.partial(_newest, catalog))]
    # rows registered straight into `clips` (catalogs written before the curation tables split): the view shows
    # one where no stage measured its clip
    direct = _newest(catalog, CLIPS, lambda t: {
        "ok": _all(_valid(t, "phash"), _none(t, "error"), _none(t, "duplicate_of"), _valid(t, "keep")),
        "video_id": _column(t, "video_id"), "phash": _column(t, "phash")})
    if direct.num_rows:
        unmeasured = pc.invert(pc.is_in(direct.column("clip_id"), value_set=measured.column("clip_id").combine_chunks()))
        kept.append(direct.filter(_all(direct.column("ok"), unmeasured)).select(REFERENCE.names))
    reference = pa.concat_tables(kept).cast(REFERENCE)
    if run_videos:
        theirs = pc.is_in(reference.column("video_id"), value_set=pa.array(sorted(run_videos), pa.string()))
        reference = reference.filter(pc.invert(theirs))
    return reference.sort_by("clip_id") if len(kept) > 1 else reference


def _only_videos(catalog: Catalog, videos: set[str]) -> bool:
    """Whether every row of the current `clip_measures` and `clips` artifacts is of one of `videos` (none without a
    video_id), read from their video_id column alone: then the catalog holds no clip of another video."""
    if not videos:
        return False
    wanted = pa.array(sorted(videos), pa.string())
    for table in (CLIP_MEASURES, CLIPS):
        for part in catalog.scan(table, ["video_id"]):
            if not part.num_rows:
                continue
            if "video_id" not in part.column_names or part.column("video_id").null_count:
                return False
            if not pc.all(pc.is_in(part.column("video_id"), value_set=wanted)).as_py():
                return False
    return True


_REFERENCE_COLUMNS = ("clip_id", "video_id", "phash", "error", "duplicate_of", "keep")


def _newest(catalog: Catalog, table: str, values: Values) -> pa.Table:
    """clip_id and the `values` columns (computed from an artifact's columns) of each clip's newest row in `table`
    (the row its view shows: the last one in scan order), sorted by clip_id."""
    parts = [_keyed(part, values) for part in catalog.scan(table, _REFERENCE_COLUMNS)]
    if not parts:
        parts = [_keyed(pa.table({"clip_id": pa.array([], pa.string())}), values)]
    rows = pa.concat_tables(parts, promote_options="permissive")
    del parts
    order = pc.sort_indices(rows, [("clip_id", "ascending")])  # stable: a clip's rows stay in scan order
    ids = rows.column("clip_id").take(order)
    if len(ids) > 1:  # the last row of each clip's run
        order = order.filter(pa.concat_arrays([
            pc.not_equal(ids.slice(0, len(ids) - 1), ids.slice(1)).combine_chunks(), pa.array([True])]))
    return rows.take(order)


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    """`table`'s column `name`, or nulls where the artifact has no such column."""
    if name in table.column_names:
        return table.column(name)
    return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])


def _valid(table: pa.Table, name: str) -> pa.ChunkedArray:
    return pc.is_valid(_column(table, name))


def _none(table: pa.Table, name: str) -> pa.ChunkedArray:
    return pc.is_null(_column(table, name))


def _all(*conditions: pa.ChunkedArray) -> pa.ChunkedArray:
    out = conditions[0]
    for condition in conditions[1:]:
        out = pc.and_(out, condition)
    return out


def _relevance_scores(catalog: Catalog, policy: FilterConfig) -> dict[str, float] | None:
    """The motion-relevance hook: scores from `physics_context` by clip_id, or by video_id for video captions.
    A policy that asks for them while the catalog has none fails before any work."""
    if policy.min_motion_relevance is None:
        return None
    rows = catalog.query(
        "SELECT coalesce(clip_id, video_id) AS id, max(motion_relevance) AS score FROM physics_context "
        "WHERE motion_relevance IS NOT NULL AND coalesce(clip_id, video_id) IS NOT NULL GROUP BY 1"
    ).to_pylist()
    if not rows:
        raise ValueError(
            "filter.min_motion_relevance is set but physics_context holds no motion_relevance score for any clip "
            "or video; run the physics-context stage over the captions first, or leave min_motion_relevance unset"
        )
    return {r["id"]: r["score"] for r in rows}


_EXPORT_FACTS = ("clip_id", "video_id", "start_frame", "end_frame", "width", "height", "fps")


def _export_items(catalog: Catalog, rows: list[dict[str, Any]], decisions: dict[str, dict[str, Any]],
                  uris: dict[str, str]) -> tuple[list[ExportItem], str]:
    """The kept clips of one analysis shard, one item per video, and the content key of what export reads."""
    by_video: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if decisions.get(row["clip_id"], {}).get("keep"):
            by_video.setdefault(row["video_id"], []).append({k: row[k] for k in _EXPORT_FACTS})
    items = [ExportItem(root=str(catalog.root.uri), uri=uris[vid], clips=clips)
             for vid, clips in sorted(by_video.items())]
    facts = sorted((c for clips in by_video.values() for c in clips), key=lambda c: c["clip_id"])
    return items, sha256_text(canonical_json(facts))


def _counts(videos: list[dict[str, Any]], clips: list[dict[str, Any]], *, links: dict[str, dict[str, Any]],
            decisions: dict[str, dict[str, Any]], files: dict[str, dict[str, Any]], analyzed: list[ArtifactRef]
            ) -> dict[str, Any]:
    """Counts of a batch's clips from the rows its stages returned, combined as the `clips` view combines them
    (data_catalog/views.py): the first stage that failed names the error, and a failed export is not kept. No
    query: a query of the view reads every artifact of the catalog."""
    final = []
    for clip_id, measured in sorted({c["clip_id"]: c for c in clips}.items()):
        decision, file = decisions.get(clip_id, {}), files.get(clip_id, {})
        stages = (measured, links.get(clip_id, {}), decision, file)
        error = next((row["error"] for row in stages if row.get("error")), None)
        final.append({"keep": False if file.get("error") else decision.get("keep"),
                      "reject_reason": decision.get("reject_reason"), "error": error})
    reasons: dict[str, int] = {}
    for row in final:
        if not row["keep"]:
            label = "error" if row["error"] else (row["reject_reason"] or "unknown").split(":", 1)[0]
            reasons[label] = reasons.get(label, 0) + 1
    return {
        "videos": len(videos), "unreadable_videos": sum(1 for v in videos if v.get("error")),
        "clips": len(final), "kept": sum(1 for r in final if r["keep"]),
        "rejected": sum(1 for r in final if not r["keep"]), "rejected_by_reason": reasons,
        "source_frames": sum(int(v.get("n_frames") or 0) for v in videos if not v.get("error")),
        "analysis_seconds": sum(r.stats.get("seconds", 0.0) for r in analyzed),
    }


def _summary(counts: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The run's counts: its batches' added up."""
    total = {k: sum(c[k] for c in counts) for k in ("videos", "unreadable_videos", "clips", "kept", "rejected")}
    reasons: dict[str, int] = {}
    for c in counts:
        for label, n in c["rejected_by_reason"].items():
            reasons[label] = reasons.get(label, 0) + n
    frames = sum(c["source_frames"] for c in counts)
    return {
        **total, "rejected_by_reason": dict(sorted(reasons.items())), "source_frames": frames,
        "seconds": round(seconds, 3), "frames_per_s": round(frames / seconds, 1) if seconds > 0 else None,
        "analysis_seconds": round(sum(c["analysis_seconds"] for c in counts), 3),
    }


def _markdown(s: dict[str, Any]) -> str:
    lines = [
        "# Curation summary", "",
        f"{s['videos']} videos ({s['unreadable_videos']} unreadable), {s['clips']} clips: "
        f"**{s['kept']} kept**, {s['rejected']} rejected.", "",
        f"Throughput: {s['source_frames']} source frames in {s['seconds']} s ({s['frames_per_s']} frames/s).", "",
        "| rejected by first reason | clips |", "|---|---|",
        *(f"| {k} | {v} |" for k, v in s["rejected_by_reason"].items()),
    ]
    return "\n".join(lines)
