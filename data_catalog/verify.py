"""`physflow catalog verify`: a full check of a catalog, and its repair.

Reads every manifest, artifact and referenced blob in full (a deep check: it also finds bit rot that left a
file's size and mtime alone, which the check on use cannot see) and reports, per file:

- missing: the registry or a manifest names a file that is not there,
- damaged: a manifest that cannot be read, or a file whose size or sha256 differs from its record,
- orphan: a file under `artifacts/` or `blobs/` that no manifest names,
- stale_temp: a `*.tmp-*` file left by a killed write.

`repair` moves damaged and orphaned files to `quarantine/` with their reason, drops their artifacts from the
registry (their stages compute them again on the next run) and deletes stale temporary files. Orphans and
temporary files younger than `grace_s` are left alone: a run in progress writes blobs before its manifest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pydantic import ValidationError

from physflow.data_catalog.artifacts import ARTIFACTS_DIR, MANIFEST_SUFFIX, Manifest, blob_refs
from physflow.data_catalog.blobs import BLOBS_DIR
from physflow.data_catalog.catalog import EMPTY_DIR, Catalog
from physflow.data_catalog.integrity import Quarantine
from physflow.data_catalog.storage import TEMP_MARK

Kind = Literal["missing", "damaged", "orphan", "stale_temp"]
KINDS: tuple[Kind, ...] = ("missing", "damaged", "orphan", "stale_temp")


@dataclass(frozen=True)
class Finding:
    kind: Kind
    path: str  # catalog-relative
    reason: str
    key: str | None = None  # the artifact it belongs to, when one
    stage: str | None = None


@dataclass
class VerifyReport:
    artifacts: int = 0
    blobs: int = 0
    findings: list[Finding] = field(default_factory=list)
    repaired: bool = False

    def count(self, kind: Kind) -> int:
        return sum(1 for f in self.findings if f.kind == kind)

    @property
    def clean(self) -> bool:
        return not self.findings


def verify_catalog(catalog: Catalog, repair: bool = False, grace_s: float = 3600.0) -> VerifyReport:
    """Check every artifact and blob of `catalog` in full; with `repair`, quarantine and sweep what is wrong."""
    report = VerifyReport()
    referenced = _check_artifacts(catalog, report)
    _check_registry(catalog, report)
    _check_blobs(catalog, referenced, report)
    _check_strays(catalog, referenced, report, grace_s)
    if repair:
        _repair(catalog, report, referenced)
    return report


def _check_artifacts(catalog: Catalog, report: VerifyReport) -> dict[str, list[Manifest]]:
    """Check each manifest and its data; returns blob reference -> the manifests that hold it."""
    store, root = catalog.artifacts, catalog.root
    referenced: dict[str, list[Manifest]] = {}
    for path in sorted(store.manifest_files()):
        report.artifacts += 1
        stage, key = path.rsplit("/", 2)[-2], path.rsplit("/", 1)[-1].removesuffix(MANIFEST_SUFFIX)
        try:
            manifest = store.manifest(stage, key)
        except (ValidationError, ValueError) as exc:
            report.findings.append(Finding("damaged", root.relative(path),
                                           f"manifest unreadable: {str(exc).splitlines()[0]}", key, stage))
            continue
        reason = store.problem_of_data(manifest, deep=True)
        if reason is not None:
            kind: Kind = "missing" if "missing" in reason else "damaged"
            report.findings.append(Finding(kind, store.relative_path(stage, key), reason, key, stage))
            continue
        for ref in blob_refs_of(catalog, manifest):
            referenced.setdefault(ref, []).append(manifest)
    return referenced


def blob_refs_of(catalog: Catalog, manifest: Manifest) -> list[str]:
    """The blob references an artifact's rows hold: as its manifest lists them, or read from its data when the
    manifest predates that list."""
    if "blobs" in manifest.model_fields_set:
        return manifest.blobs
    return _refs_in_file(catalog, manifest.stage, manifest.key)


def _refs_in_file(catalog: Catalog, stage: str, key: str) -> list[str]:
    """Blob references of an artifact whose manifest predates the `blobs` field."""
    with catalog.root.fs.open_input_file(catalog.artifacts.data_path(stage, key)) as fh:
        schema = pq.read_schema(fh)
        columns = [n for n in schema.names if n.endswith("uri")]
        return blob_refs(pq.read_table(fh, columns=columns)) if columns else []


def _check_registry(catalog: Catalog, report: VerifyReport) -> None:
    store = catalog.artifacts
    for stage, key in catalog.registered():
        if not store.exists(stage, key):
            report.findings.append(Finding("missing", catalog.root.relative(store.manifest_path(stage, key)),
                                           "registered, but its manifest is missing", key, stage))


def _check_blobs(catalog: Catalog, referenced: dict[str, list[Manifest]], report: VerifyReport) -> None:
    blobs = catalog.artifacts.blobs
    for ref in sorted(referenced):
        report.blobs += 1
        reason = blobs.problem(ref, deep=True)
        if reason is not None:
            kind: Kind = "missing" if "missing" in reason else "damaged"
            report.findings.append(Finding(kind, ref, f"blob {reason}"))


def _check_strays(catalog: Catalog, referenced: dict[str, list[Manifest]], report: VerifyReport,
                  grace_s: float) -> None:
    """Files under artifacts/ and blobs/ that nothing names: stale temporary files and orphans."""
    root = catalog.root
    named = {catalog.artifacts.relative_path(f.stage, f.key) for f in report.findings if f.key and f.stage}
    for path in catalog.artifacts.manifest_files():
        stage, key = path.rsplit("/", 2)[-2], path.rsplit("/", 1)[-1].removesuffix(MANIFEST_SUFFIX)
        named.add(catalog.artifacts.relative_path(stage, key))
    now = time.time()
    for folder in (ARTIFACTS_DIR, BLOBS_DIR):
        selector = pafs.FileSelector(root.path(folder), allow_not_found=True, recursive=True)
        for info in root.fs.get_file_info(selector):
            rel = root.relative(info.path)
            if info.type != pafs.FileType.File or rel.startswith(EMPTY_DIR + "/") or rel.endswith(MANIFEST_SUFFIX):
                continue
            old = now - (info.mtime.timestamp() if info.mtime else now) >= grace_s
            if TEMP_MARK in rel.rsplit("/", 1)[-1]:
                if old:
                    report.findings.append(Finding("stale_temp", rel, "temporary file of an unfinished write"))
            elif rel not in named and rel not in referenced and old:
                report.findings.append(Finding("orphan", rel, "no manifest names this file"))


def _repair(catalog: Catalog, report: VerifyReport, referenced: dict[str, list[Manifest]]) -> None:
    store, jail = catalog.artifacts, Quarantine(catalog.root)
    for finding in report.findings:
        path = catalog.root.path(finding.path)
        if finding.kind == "stale_temp":
            if catalog.root.exists(path):
                catalog.root.fs.delete_file(path)
        elif finding.key and finding.stage:
            if store.exists(finding.stage, finding.key):
                store.quarantine(finding.stage, finding.key, f"{finding.kind}: {finding.reason}")
            else:
                catalog.forget(finding.stage, finding.key, finding.reason)
        elif finding.path in referenced:  # a missing or damaged blob: the artifacts holding it are recomputed
            if catalog.root.exists(path):
                jail.move(path, finding.reason)
            for manifest in referenced[finding.path]:
                if store.exists(manifest.stage, manifest.key):
                    store.quarantine(manifest.stage, manifest.key, f"references {finding.path}: {finding.reason}")
        elif catalog.root.exists(path):
            jail.move(path, f"{finding.kind}: {finding.reason}")
    report.repaired = True
