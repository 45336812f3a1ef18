"""The catalog's seal: proof, from one pass over file names, sizes and mtimes, that nothing changed since every
registered artifact and every blob was last found intact, so a warm run opens no artifact to trust it.

Checking each artifact before trusting a cache hit (read its manifest, stat its data and blobs, look their
fingerprints up) costs file accesses per artifact, a cost that grows with the catalog. Instead, after a run the
catalog writes `seal.json`: a digest of its listing (catalog-relative path, size and mtime of every file under
`artifacts/` and `blobs/`, temporary files aside) and of its registry (key, sha256, bytes of every artifact),
only when every registered artifact (manifest readable and naming it, data of the recorded size and sha256,
the blobs it references present) and every blob (sha256 = its name) is proven intact; files the fingerprint
cache cannot vouch for are hashed then, once. A later run whose listing and registry give the same digests
trusts the registry without opening an artifact. Any write, truncation, deletion, rename or touch of a file
changes the listing, any registration the registry, and the per-artifact checks run as before until the next
seal. Like git's index, the seal trusts (size, mtime); `physflow catalog verify` reads every byte.

An object-store catalog is sealed the same way: its listing is one recursive listing of the bucket prefix (sizes
and modification times), and the seal lies with the registry on this machine (`Root.local_path`), as the
registry it vouches for does.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.fs as pafs
from pydantic import ValidationError

from physflow.data_catalog.artifacts import ARTIFACTS_DIR, MANIFEST_SUFFIX, ArtifactStore, Manifest
from physflow.data_catalog.blobs import BLOBS_DIR
from physflow.data_catalog.integrity import FileChecker
from physflow.data_catalog.storage import TEMP_MARK, Root

SEAL_FILE = "seal.json"

Stamp = tuple[int, int]
"""(size, mtime_ns) of a file."""

Registry = list[tuple[str, str, str, int]]
"""(key, stage, content_sha256, bytes) of every registered artifact, sorted by key."""


@dataclass
class Listing:
    """Every file under `artifacts/` and `blobs/` of a catalog: relative path -> (size, mtime_ns)."""

    base: str
    files: dict[str, Stamp] = field(default_factory=dict)

    @classmethod
    def scan(cls, root: Root) -> Listing:
        base = root.base
        listing = cls(base)
        if not root.is_local:
            for top in (ARTIFACTS_DIR, BLOBS_DIR):
                selector = pafs.FileSelector(root.path(top), allow_not_found=True, recursive=True)
                for info in root.fs.get_file_info(selector):
                    if info.type == pafs.FileType.File and TEMP_MARK not in info.base_name:
                        listing.files[root.relative(info.path)] = (int(info.size or 0), int(info.mtime_ns or 0))
            return listing
        for top in (ARTIFACTS_DIR, BLOBS_DIR):
            for folder in _entries(Path(base) / top):
                if folder.is_dir(follow_symlinks=False):
                    for entry in _entries(Path(folder.path)):
                        if TEMP_MARK not in entry.name and entry.is_file(follow_symlinks=False):
                            st = entry.stat(follow_symlinks=False)
                            listing.files[f"{top}/{folder.name}/{entry.name}"] = (st.st_size, st.st_mtime_ns)
        return listing

    def digest(self) -> str:
        text = "\n".join(f"{path}\t{size}\t{mtime}" for path, (size, mtime) in sorted(self.files.items()))
        return hashlib.sha256(text.encode()).hexdigest()

    def path(self, relative: str) -> str:
        return f"{self.base.rstrip('/')}/{relative}"


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except FileNotFoundError:  # absent, or removed while scanning (a quarantine emptying it): no files
        return []


def blob_sha256(relative: str) -> str:
    """The sha256 a blob must have: its file name (`blobs/ab/<sha256>.<ext>`)."""
    return relative.rsplit("/", 1)[-1].split(".", 1)[0]


def registry_digest(registry: Registry) -> str:
    return hashlib.sha256(json.dumps(registry).encode()).hexdigest()


def sealed(root: Root) -> bool:
    """Whether the catalog at `root` has a seal (which may no longer hold)."""
    return root.local_path(SEAL_FILE).exists()


def read_seal(root: Root) -> dict[str, str] | None:
    try:
        return json.loads(root.local_path(SEAL_FILE).read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def holds(root: Root, registry: Registry) -> Listing | None:
    """The current listing when the catalog's seal matches it and `registry` (everything registered is intact
    as of the seal); None when there is no seal or anything changed since."""
    seal = read_seal(root)
    if seal is None or seal.get("registry") != registry_digest(registry):
        return None
    listing = Listing.scan(root)
    return listing if seal.get("listing") == listing.digest() else None


def verified(root: Root, registry: Registry, checker: FileChecker) -> Listing | None:
    """The listing, when every registered artifact (manifest readable and naming it, data of the recorded size
    and sha256, every blob it references present) and every blob (sha256 = its name) is proven intact, hashing
    the files the fingerprint cache cannot vouch for; None when one is not, leaving it to the per-artifact
    checks, which quarantine it. Every registered manifest is read: this runs only after something changed."""
    listing = Listing.scan(root)
    expected: dict[str, str] = {}
    for key, stage, sha, size in registry:
        data = ArtifactStore.relative_path(stage, key)
        blobs = _manifest_blobs(root, listing, stage, key)
        if listing.files.get(data, (None, 0))[0] != size or blobs is None or not blobs <= listing.files.keys():
            return None
        expected[data] = sha
    expected.update({rel: blob_sha256(rel) for rel in listing.files if rel.startswith(f"{BLOBS_DIR}/")})
    if not root.is_local:  # each file's sha256 remembered by URL, size and modification time, else read
        if any(checker.problem(listing.path(rel), listing.files[rel][0], sha) for rel, sha in expected.items()):
            return None
        return listing
    cache = checker.cache
    known = cache.known(listing.base, listing.files)
    unproven = [rel for rel in expected if known.get(rel) != expected[rel]]
    for rel, sha in zip(unproven, cache.many([listing.path(r) for r in unproven]), strict=True):
        if sha != expected[rel]:
            return None
    return listing


def _manifest_blobs(root: Root, listing: Listing, stage: str, key: str) -> set[str] | None:
    """The blobs the manifest of artifact `key` references; None when it is missing, unreadable or not its own."""
    relative = f"{ARTIFACTS_DIR}/{stage}/{key}{MANIFEST_SUFFIX}"
    if relative not in listing.files:
        return None
    try:
        manifest = Manifest.model_validate_json(root.read_bytes(listing.path(relative)))
    except (OSError, ValidationError, ValueError):
        return None
    return set(manifest.blobs) if (manifest.key, manifest.stage) == (key, stage) else None


def write_seal(root: Root, listing: Listing, registry: Registry) -> None:
    record = {"listing": listing.digest(), "registry": registry_digest(registry), "files": len(listing.files),
              "artifacts": len(registry), "sealed_at": datetime.now(UTC).isoformat()}
    beside = Root(root.local_path())  # the root itself, or this machine's registry folder for an object store
    beside.write_bytes_atomic(str(root.local_path(SEAL_FILE)), json.dumps(record, indent=1).encode())


def drop_seal(root: Root) -> None:
    root.local_path(SEAL_FILE).unlink(missing_ok=True)
