"""`physflow catalog prune`: free the space of artifacts that newer ones superseded, and of the blobs only they held.

A stage's shard keeps every artifact it ever had: a run under another config (a filter threshold, an export size)
registers a new one, which the views read from then on, and the old one stays, so that changing the config back
finds it Cached. Over months of such changes the superseded artifacts, and above all the clip files only they
reference, can outgrow what the catalog shows. Pruning removes the artifacts superseded longer ago than
`older_than_s` (the time the newer artifact of their shard was registered), then the blobs that no remaining
manifest references. What the views read, and what any artifact still on disk needs, is never touched; an artifact
pruned is computed again if a run asks for it.

Order of work: the registry rows go first, in one writer session under the catalog's exclusive lock (the
superseded set is read in that session, so a run that made one current again meanwhile keeps it), then each
artifact's manifest and data, then the blobs. Run it while no flow writes to the catalog: a clip that a running
export writes at that moment with the bytes of a blob being pruned reuses that blob's file, which is then
deleted; the next run finds the blob missing, quarantines that artifact and exports the clip again.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from physflow.data_catalog.artifacts import Manifest
from physflow.data_catalog.catalog import Catalog, SupersededRow, superseded_in
from physflow.data_catalog.verify import blob_refs_of

DEFAULT_OLDER_THAN_S = 7 * 86400.0


@dataclass(frozen=True)
class Superseded:
    key: str
    stage: str
    bytes: int
    superseded_at: datetime


@dataclass
class PruneReport:
    pruned: list[Superseded] = field(default_factory=list)
    kept_recent: int = 0  # superseded less than `older_than_s` ago
    blobs: int = 0
    blob_bytes: int = 0
    dry_run: bool = False
    resealed: bool = False
    blobs_kept_because: str | None = None  # why no blob was pruned, when one could have been

    @property
    def artifact_bytes(self) -> int:
        return sum(s.bytes for s in self.pruned)

    def by_stage(self) -> dict[str, tuple[int, int]]:
        """Per stage, the artifacts pruned and their bytes."""
        counts: Counter[str] = Counter()
        sizes: Counter[str] = Counter()
        for s in self.pruned:
            counts[s.stage] += 1
            sizes[s.stage] += s.bytes
        return {stage: (counts[stage], sizes[stage]) for stage in sorted(counts)}


def prune_catalog(catalog: Catalog, older_than_s: float = DEFAULT_OLDER_THAN_S, dry_run: bool = False) -> PruneReport:
    """Remove the artifacts of `catalog` superseded more than `older_than_s` seconds ago and the blobs only they
    referenced (with `dry_run`, only say what would go)."""
    if older_than_s < 0:
        raise ValueError(f"older_than_s must be at least 0, not {older_than_s}")
    report = PruneReport(dry_run=dry_run)
    if not catalog.db_path.exists():
        return report
    cutoff = time.time() - older_than_s
    was_sealed = catalog.seal_holds()
    if dry_run:
        report.pruned, report.kept_recent = _due(catalog.superseded(), cutoff)
    else:
        with catalog.writer() as con:
            report.pruned, report.kept_recent = _due(superseded_in(con), cutoff)
            keys = [s.key for s in report.pruned]
            if keys:
                con.execute("DELETE FROM artifact_items WHERE artifact IN (SELECT unnest(?::VARCHAR[]))", [keys])
                con.execute("DELETE FROM artifacts WHERE key IN (SELECT unnest(?::VARCHAR[]))", [keys])
    if not report.pruned:
        return report
    store, root = catalog.artifacts, catalog.root
    held: set[str] = set()  # blob references of the pruned artifacts
    for s in report.pruned:
        manifest = _manifest(catalog, s)
        if manifest is not None:
            with contextlib.suppress(OSError):  # an older manifest without its data: its blobs stay (verify tells)
                held.update(blob_refs_of(catalog, manifest))
        if not dry_run:
            for path in (store.manifest_path(s.stage, s.key), store.data_path(s.stage, s.key)):
                if root.exists(path):  # the manifest first: an artifact without one is never read
                    root.fs.delete_file(path)
    pruned = {s.key for s in report.pruned}
    for manifest in store.manifests() if held else ():  # every artifact left on disk keeps its blobs, registered or not
        if manifest.key not in pruned:
            try:
                held.difference_update(blob_refs_of(catalog, manifest))
            except OSError as exc:  # an older manifest whose data is gone: its blobs cannot be told
                report.blobs_kept_because = f"the blobs of artifact {manifest.stage}/{manifest.key} cannot be " \
                                            f"read ({exc}); `physflow catalog verify` tells what is wrong"
                held.clear()
                break
    for ref in sorted(held):
        path = store.blobs.resolve(ref)
        if root.exists(path):
            report.blobs += 1
            report.blob_bytes += root.size(path)
            if not dry_run:
                root.fs.delete_file(path)
    if was_sealed and not dry_run:
        report.resealed = catalog.seal()  # a warm run trusts the catalog again without checking each artifact
    return report


def superseded_count(catalog: Catalog) -> tuple[int, int]:
    """How many registered artifacts newer ones of their shard superseded, and their bytes: what a prune with no
    age limit removes, besides the blobs only they reference."""
    superseded = catalog.superseded()
    return len(superseded), sum(size for _, _, size, _ in superseded)


def _due(rows: list[SupersededRow], cutoff: float) -> tuple[list[Superseded], int]:
    """The superseded artifacts of `rows` (`superseded_in`) superseded at `cutoff` (a time) or before, and how many
    were superseded since."""
    superseded = [Superseded(*row) for row in rows]
    due = [s for s in superseded if _seconds(s.superseded_at) <= cutoff]
    return due, len(superseded) - len(due)


def _manifest(catalog: Catalog, s: Superseded) -> Manifest | None:
    try:
        return catalog.artifacts.manifest(s.stage, s.key)
    except (OSError, ValueError):  # gone or unreadable: nothing to learn its blobs from (`catalog verify` tells)
        return None


def _seconds(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def summary_line(report: PruneReport) -> str:
    verb = "would free" if report.dry_run else "freed"
    return (f"{len(report.pruned)} superseded artifact(s) and {report.blobs} blob(s) only they referenced: {verb} "
            f"{size_text(report.artifact_bytes + report.blob_bytes)}; {report.kept_recent} superseded more recently "
            "kept" + (f"; no blob pruned: {report.blobs_kept_because}" if report.blobs_kept_because else ""))


def size_text(n: int) -> str:
    """`n` bytes as B, KiB, MiB or GiB."""
    units, size, k = ("B", "KiB", "MiB", "GiB"), float(n), 0
    while size >= 1024 and k < len(units) - 1:
        size, k = size / 1024, k + 1
    return f"{n} B" if k == 0 else f"{size:.1f} {units[k]}"
