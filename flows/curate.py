"""curate-videos: ingest -> analyze (shots + quality, one decode per video) -> dedup -> filter -> export.

Every stage runs through flows/runtime.py, so each shard is a Prefect task cached by its artifact key;
a stage's input keys are content fingerprints of what it reads (the upstream rows or artifacts).
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from prefect import flow
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, ConfigDict, Field

from physflow.data_catalog import Catalog
from physflow.data_catalog.keys import canonical_json, sha256_text
from physflow.flows.ingest import DEFAULT_CATALOG, IngestParams, ingest_flow
from physflow.flows.runtime import ArtifactRef, plan, run_jobs
from physflow.stages.analyze import AnalyzeConfig, AnalyzeStage
from physflow.stages.clip_export import ExportConfig, ExportItem, ExportStage
from physflow.stages.curate_filter import FilterConfig, FilterStage
from physflow.stages.dedup import DedupConfig, DedupInput, DedupStage
from physflow.stages.ingest import IngestConfig


class CurateParams(BaseModel):
    """Parameters of the curation flow: inputs, catalog, sharding, and one config per stage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: list[str] = Field(..., min_length=1, description="Folders, globs, text files listing paths, or files.")
    catalog: str = Field(DEFAULT_CATALOG, description="Catalog root folder or URI.")
    shard_size: int = Field(8, ge=1, le=100_000, description="Average videos per cached analysis/export shard.")
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
    ingested = ingest_flow.fn(IngestParams(inputs=params.inputs, catalog=params.catalog,
                                           shard_size=params.shard_size, ingest=params.ingest))
    videos = _unique_videos(_rows(catalog, ingested))
    readable = [v for v in videos if not v.get("error")]
    analyzed = run_jobs(plan(AnalyzeStage, params.analyze, readable, keys=[_video_key(v) for v in readable],
                             catalog=catalog, shard_size=params.shard_size))
    clips = _rows(catalog, analyzed)
    reference = _reference(catalog, {v["video_id"] for v in videos})
    dedup_key = sha256_text(canonical_json({"analyzed": sorted(r.content_sha256 for r in analyzed),
                                            "reference": reference}))
    deduped = run_jobs(plan(DedupStage, params.dedup, [DedupInput(clips, reference)], keys=[dedup_key],
                            catalog=catalog, shard_size=1_000_000))
    rows = _rows(catalog, deduped)
    if relevance is not None:
        rows = [{**r, "motion_relevance": relevance.get(r["clip_id"], relevance.get(r["video_id"]))} for r in rows]
    filtered = run_jobs(plan(FilterStage, params.filter, [rows], keys=[_refs_key(deduped)], catalog=catalog,
                             shard_size=1_000_000))
    items, keys = _export_items(catalog, _rows(catalog, filtered), {v["video_id"]: v["uri"] for v in videos})
    exported = run_jobs(plan(ExportStage, params.export, items, keys=keys, catalog=catalog,
                             shard_size=params.shard_size))
    _promote(catalog, [analyzed, deduped, filtered, exported])
    summary = _summary(catalog, videos, clips, analyzed, time.perf_counter() - start)
    create_markdown_artifact(markdown=_markdown(summary), key="curate-summary", description="curation summary")
    print(f"curated {summary['videos']} videos: {summary['kept']} clips kept, {summary['rejected']} rejected")
    return CurateResult(refs=[*ingested, *analyzed, *deduped, *filtered, *exported], summary=summary)


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


def _reference(catalog: Catalog, run_videos: set[str]) -> list[dict[str, Any]]:
    """Canonical hashed clips already in the catalog from other videos (the dedup reference set)."""
    rows = catalog.query(
        "SELECT clip_id, video_id, phash FROM clips WHERE phash IS NOT NULL AND error IS NULL "
        "AND duplicate_of IS NULL AND keep IS NOT NULL ORDER BY clip_id"
    ).to_pylist()
    return [r for r in rows if r["video_id"] not in run_videos]


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


def _export_items(
    catalog: Catalog, rows: list[dict[str, Any]], uris: dict[str, str]
) -> tuple[list[ExportItem], list[str]]:
    by_video: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("keep"):
            by_video.setdefault(row["video_id"], []).append(row)
    items, keys = [], []
    for video_id, clips in sorted(by_video.items()):
        items.append(ExportItem(root=str(catalog.root.uri), uri=uris[video_id], clips=clips))
        keys.append(sha256_text(canonical_json(sorted(clips, key=lambda r: r["clip_id"]))))
    return items, keys


def _promote(catalog: Catalog, layers: list[list[ArtifactRef]]) -> None:
    """Make this run's final clip rows the newest in the `clips` view: each layer of artifacts (analyze,
    dedup, filter, export) registered after the one before it.

    Only needed when an upstream artifact was rewritten after its downstream with the same content (the
    downstream stayed cached): its rows, which lack the later columns, would otherwise win in the view.
    """
    keys = [r.key for layer in layers for r in layer]
    times = {r["key"]: r["created_at"] for r in catalog.query(
        "SELECT key, created_at FROM artifacts WHERE list_contains(?, key)", [keys]).to_pylist()}
    spans = [[times.get(r.key) for r in layer] for layer in layers if layer]
    known = all(t is not None for span in spans for t in span)
    if known and all(max(a) < min(b) for a, b in itertools.pairwise(spans)):  # type: ignore[type-var]
        return
    now = datetime.now(UTC)
    final = [r for layer in layers[-2:] for r in layer]
    for i, ref in enumerate(final):  # strictly increasing times: a later stage's row wins a tie on clip_id
        manifest = catalog.artifacts.manifest(ref.stage, ref.key)
        catalog.register(manifest.model_copy(update={"created_at": now + timedelta(microseconds=i)}))


def _summary(catalog: Catalog, videos: list[dict[str, Any]], clips: list[dict[str, Any]],
             analyzed: list[ArtifactRef], seconds: float) -> dict[str, Any]:
    ids = sorted({c["clip_id"] for c in clips})
    final = catalog.query(
        "SELECT keep, reject_reason, error FROM clips WHERE list_contains(?, clip_id)", [ids]
    ).to_pylist() if ids else []
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
