"""curate-videos: ingest -> analyze (shots + quality, one decode per video) -> dedup -> filter -> export.

Every stage runs through flows/runtime.py, so each shard is a Prefect task cached by its artifact key;
a stage's input keys are content fingerprints of what it reads (the upstream rows or artifacts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
from prefect import flow
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog
from physflow.data_catalog.keys import cache_key, canonical_json, sha256_text, shard_id
from physflow.data_catalog.schemas import CLIP_DECISIONS, CLIP_DUPLICATES, CLIP_FILES, CLIP_MEASURES, CLIPS
from physflow.data_catalog.sharding import content_shards
from physflow.flows.ingest import DEFAULT_CATALOG, IngestParams, ingest_flow
from physflow.flows.runtime import ArtifactRef, StageJob, plan, run_jobs, workers_on_first_work
from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.base import Stage, StageConfig
from physflow.stages.clip_export import ExportConfig, ExportItem, ExportStage
from physflow.stages.curate_filter import FilterConfig, FilterStage
from physflow.stages.dedup import DedupConfig, DedupInput, DedupStage
from physflow.stages.ingest import IngestConfig, IngestStage

INGEST_SHARDS = 8
"""Ingest's shards hold this many times the videos of an analysis shard: probing a video costs about a hundredth
of analysing it, while every shard costs a task run and a registration (tens of milliseconds of the flow's and the
server's time each). On 300 generated videos ingest took 0.3 s instead of 0.7 s, and a cold run about 0.4 s less;
a video added later is still the only one probed (its shard's other rows are reused)."""

FILTER_GROUP = 8
"""Analysis shards per filter job, about: deciding a clip takes microseconds, while every job costs a task run and
a registration. A new video recomputes its group's decisions (a few hundred rows), the other groups stay Cached."""


class CurateParams(BaseModel):
    """Parameters of the curation flow: inputs, catalog, sharding, and one config per stage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: list[str] = Field(..., min_length=1, description="Folders, globs, text files listing paths, files, or object-store URIs (s3://bucket/prefix?...).")
    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI.")
    shard_size: int = Field(8, ge=1, le=100_000, description=f"Average videos per cached analysis/export shard (an ingest shard holds {INGEST_SHARDS} times as many).")
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
    # Analysis and export run on worker processes, started as soon as ingest or they have work to do (new
    # videos: their start overlaps ingest); a run with nothing for them to compute starts none.
    with workers_on_first_work(AnalyzeStage, ExportStage, early=[IngestStage]):
        ingest_shard = min(params.shard_size * INGEST_SHARDS, 100_000)
        ingested = ingest_flow.fn(IngestParams(inputs=params.inputs, catalog=params.catalog, shard_size=ingest_shard,
                                               ingest=params.ingest))
        videos = _unique_videos(_rows(catalog, ingested))
        readable = [v for v in videos if not v.get("error")]
        analyzed = run_jobs(plan(AnalyzeStage, params.analyze, readable, keys=[_video_key(v) for v in readable],
                                 catalog=catalog, shard_size=params.shard_size))
        measured = [(ref, _rows(catalog, [ref])) for ref in analyzed]
        clips = [row for _, rows in measured for row in rows]
        deduped = run_jobs(_dedup_jobs(catalog, params.dedup, analyzed, clips, {v["video_id"] for v in videos}))
        links = {r["clip_id"]: r for r in _rows(catalog, deduped)}
        filtered = run_jobs(_filter_jobs(catalog, params.filter, measured, links, relevance))
        decisions = {r["clip_id"]: r for r in _rows(catalog, filtered)}
        exported = run_jobs(_export_jobs(catalog, params.export, measured, decisions,
                                         {v["video_id"]: v["uri"] for v in videos}))
    files = {r["clip_id"]: r for r in _rows(catalog, exported)}
    summary = _summary(videos, clips, links=links, decisions=decisions, files=files, analyzed=analyzed,
                       seconds=time.perf_counter() - start)
    create_markdown_artifact(markdown=_markdown(summary), key="curate-summary", description="curation summary")
    print(f"curated {summary['videos']} videos: {summary['kept']} clips kept, {summary['rejected']} rejected")
    return CurateResult(refs=[*ingested, *analyzed, *deduped, *filtered, *exported], summary=summary)


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
                run_videos: set[str]) -> list[StageJob]:
    """The one global job: every clip of the run against the canonical clips already in the catalog. Its shard is
    the run's analysis shards (their identities, not their content), as a filter group's is: a run over the same
    videos with another analysis config supersedes the links, and one changed back makes its own current again
    (its shard was its content key, so the links of the last config computed showed instead)."""
    reference = _reference(catalog, run_videos, analyzed)
    key = sha256_text(canonical_json({"analyzed": sorted(r.content_sha256 for r in analyzed),
                                      "reference": reference}))
    shard = shard_id(DedupStage.name, [ref.shard for ref in analyzed])
    return [_shard_job(DedupStage, config, [DedupInput(clips, reference)], key=key, shard=shard, catalog=catalog)]


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


def _reference(catalog: Catalog, run_videos: set[str], analyzed: list[ArtifactRef]) -> list[dict[str, Any]]:
    """Canonical hashed clips already in the catalog from other videos (the dedup reference set): measured with a
    pHash, decided, no duplicate and no error in any stage, as the `clips` view combines its tables
    (data_catalog/views.py). Read one artifact at a time (`Catalog.scan`): a query of the view joins four tables
    over every artifact of the catalog, in memory that grows with it (52 MiB at 2,000 videos), for a set that
    needs three short values a clip. None, from the registry alone, when every clip the catalog holds is this
    run's (a new catalog, a re-run of the same inputs: its current measures are this run's analysis shards)."""
    current = catalog.current_keys(CLIP_MEASURES, CLIPS)
    if current is not None and current <= {ref.key for ref in analyzed}:
        return []
    hashed = _newest(catalog, CLIP_MEASURES, lambda r: (r["video_id"], r["phash"])
                     if r.get("phash") is not None and r.get("error") is None else None)
    unlinked = _newest(catalog, CLIP_DUPLICATES, lambda r: r.get("duplicate_of") is None and r.get("error") is None)
    decided = _newest(catalog, CLIP_DECISIONS, lambda r: r.get("keep") is not None and r.get("error") is None)
    exported = _newest(catalog, CLIP_FILES, lambda r: r.get("error") is None)
    direct = _newest(catalog, CLIPS, lambda r: (r["video_id"], r["phash"]) if r.get("phash") is not None
                     and r.get("error") is None and r.get("duplicate_of") is None and r.get("keep") is not None
                     else None)  # rows registered straight into `clips`: the view shows one no stage measured
    canonical = {clip: h for clip, h in hashed.items()
                 if h is not None and unlinked.get(clip, True) and decided.get(clip, False) and exported.get(clip, True)}
    canonical.update((clip, h) for clip, h in direct.items() if h is not None and clip not in hashed)
    return [{"clip_id": clip, "video_id": video, "phash": phash}
            for clip, (video, phash) in sorted(canonical.items()) if video not in run_videos]


_REFERENCE_COLUMNS = ("clip_id", "video_id", "phash", "error", "duplicate_of", "keep")


def _newest(catalog: Catalog, table: str, value: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """clip_id -> `value` of its newest row in `table` (the row its view shows)."""
    out: dict[str, Any] = {}
    for rows in catalog.scan(table, _REFERENCE_COLUMNS):
        out.update((r["clip_id"], value(r)) for r in rows.to_pylist())
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


def _summary(videos: list[dict[str, Any]], clips: list[dict[str, Any]], *, links: dict[str, dict[str, Any]],
             decisions: dict[str, dict[str, Any]], files: dict[str, dict[str, Any]], analyzed: list[ArtifactRef],
             seconds: float) -> dict[str, Any]:
    """Counts of this run's clips from the rows its stages returned, combined as the `clips` view combines them
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
    frames = sum(int(v.get("n_frames") or 0) for v in videos if not v.get("error"))
    return {
        "videos": len(videos), "unreadable_videos": sum(1 for v in videos if v.get("error")),
        "clips": len(final), "kept": sum(1 for r in final if r["keep"]),
        "rejected": sum(1 for r in final if not r["keep"]), "rejected_by_reason": dict(sorted(reasons.items())),
        "source_frames": frames, "seconds": round(seconds, 3),
        "frames_per_s": round(frames / seconds, 1) if seconds > 0 else None,
        "analysis_seconds": round(sum(r.stats.get("seconds", 0.0) for r in analyzed), 3),
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
