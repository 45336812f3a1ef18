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

A local catalog is listed and proven a folder at a time, in path order: a check holds one folder's listing at a
time, a proof that and the blobs the manifests reference not yet listed (on 100,000 blobs: 8 and 21 MiB of Python
memory, against 72 and 92 when the whole listing was held; benchmarks/seal_memory.py).

An object-store catalog is sealed the same way: its listing is one recursive listing of the bucket prefix (sizes
and modification times), and the seal lies with the registry on this machine (`Root.local_path`), as the
registry it vouches for does.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.fs as pafs
from pydantic import ValidationError

from physflow.data_catalog.artifacts import ARTIFACTS_DIR, MANIFEST_SUFFIX, ArtifactStore, Manifest
from physflow.data_catalog.blobs import BLOBS_DIR
from physflow.data_catalog.integrity import VERIFIED_LIMIT, FileChecker
from physflow.data_catalog.storage import TEMP_MARK, Root

SEAL_FILE = "seal.json"

Registry = list[tuple[str, str, str, int]]
"""(key, stage, content_sha256, bytes) of every registered artifact, sorted by key."""


Folder = tuple[str, list[tuple[str, int, int]]]
"""A catalog-relative folder and its files' (name, size, mtime_ns), sorted by name."""


def folders(root: Root) -> Iterator[Folder]:
    """The files under `artifacts/` and `blobs/` of a catalog (temporary files aside), a folder at a time, in the
    order of their catalog-relative paths: a local catalog is listed folder by folder (the memory of one folder's
    listing at a time), an object store in one recursive listing (sorted whole)."""
    tops = sorted((ARTIFACTS_DIR, BLOBS_DIR), key=lambda top: top + "/")
    if not root.is_local:
        listed = []
        for top in tops:
            selector = pafs.FileSelector(root.path(top), allow_not_found=True, recursive=True)
            listed += [(root.relative(info.path), int(info.size or 0), int(info.mtime_ns or 0))
                       for info in root.fs.get_file_info(selector)
                       if info.type == pafs.FileType.File and TEMP_MARK not in info.base_name]
        for folder, files in itertools.groupby(sorted(listed), key=lambda f: f[0].rpartition("/")[0]):
            yield folder, [(rel.rpartition("/")[2], size, mtime) for rel, size, mtime in files]
        return
    for top in tops:
        # A path in folder F starts with "F/", so sorting folders by "F/" sorts their files' paths ("a/" < "a-b/").
        subfolders = sorted((e for e in _entries(Path(root.base) / top) if e.is_dir(follow_symlinks=False)),
                            key=lambda e: e.name + "/")
        for sub in subfolders:
            files = []
            for entry in _entries(Path(sub.path)):
                if TEMP_MARK not in entry.name and entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    files.append((entry.name, st.st_size, st.st_mtime_ns))
            yield f"{top}/{sub.name}", sorted(files)


class _ListingDigest:
    """The sha256 of a listing's lines (`path TAB size TAB mtime_ns`, one per file in path order, joined by new
    lines), fed a folder at a time."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.files = 0

    def add(self, folder: str, files: list[tuple[str, int, int]]) -> None:
        if files:
            text = "\n".join(f"{folder}/{name}\t{size}\t{mtime}" for name, size, mtime in files)
            self._sha.update(f"\n{text}".encode() if self.files else text.encode())
            self.files += len(files)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


@dataclass
class Proof:
    """A pass over a catalog's files: the digest of its listing, the files it holds, and (from `holds`) up to
    `VOUCHED` of its registered data files and blobs, (path, size, mtime_ns) -> sha256, for the process to
    remember as verified."""

    listing: str
    files: int
    vouched: dict[tuple[str, int, int], str] = field(default_factory=dict)


VOUCHED = VERIFIED_LIMIT // 2
"""Files a holding seal vouches for, at most (artifact data first, in path order): the process remembers no more."""


def _path(root: Root, relative: str) -> str:
    return f"{root.base.rstrip('/')}/{relative}"


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


def holds(root: Root, registry: Registry) -> Proof | None:
    """The listing's proof when the catalog's seal matches it and `registry` (everything registered is intact as
    of the seal); None when there is no seal or anything changed since."""
    seal = read_seal(root)
    if seal is None or seal.get("registry") != registry_digest(registry):
        return None
    data = {ArtifactStore.relative_path(stage, key): sha for key, stage, sha, _ in registry}
    digest, vouched = _ListingDigest(), {}
    for folder, files in folders(root):
        digest.add(folder, files)
        for name, size, mtime in files if len(vouched) < VOUCHED else ():
            relative = f"{folder}/{name}"
            sha = data.get(relative) or (blob_sha256(relative) if folder.startswith(f"{BLOBS_DIR}/") else None)
            if sha is not None:
                vouched[(_path(root, relative), size, mtime)] = sha
    listing = digest.hexdigest()
    return Proof(listing, digest.files, vouched) if seal.get("listing") == listing else None


def verified(root: Root, registry: Registry, checker: FileChecker) -> Proof | None:
    """The listing's proof, when every registered artifact (manifest readable and naming it, data of the recorded
    size and sha256, every blob it references present) and every blob (sha256 = its name) is proven intact, hashing
    the files the fingerprint cache cannot vouch for; None when one is not, leaving it to the per-artifact checks,
    which quarantine it. Every registered manifest is read: this runs only after something changed. A folder at a
    time: what it holds beyond one folder's listing is the registry's data paths and the blobs the manifests
    reference not yet seen (artifacts' folders come before the blobs' in path order)."""
    registered = {ArtifactStore.relative_path(stage, key): (stage, key, sha, size)
                  for key, stage, sha, size in registry}
    referenced: dict[str, set[str]] = {}  # blob folder -> names the manifests reference, not yet listed
    digest = _ListingDigest()
    for folder, files in folders(root):
        digest.add(folder, files)
        names = {name for name, _, _ in files}
        expected: dict[str, str] = {}
        for name, size, _ in files:
            relative = f"{folder}/{name}"
            if relative in registered:
                stage, key, sha, recorded = registered.pop(relative)
                blobs = _manifest_blobs(root, names, stage, key)
                if size != recorded or blobs is None:
                    return None
                for blob in blobs:
                    blob_folder, _, blob_name = blob.rpartition("/")
                    referenced.setdefault(blob_folder, set()).add(blob_name)
                expected[name] = sha
            elif folder.startswith(f"{BLOBS_DIR}/"):
                expected[name] = blob_sha256(relative)
        referenced.get(folder, set()).difference_update(names)
        if not _proven(root, folder, files, expected, checker):
            return None
    if registered or any(referenced.values()):
        return None  # a registered artifact's data, or a blob a manifest references, is missing
    return Proof(digest.hexdigest(), digest.files)


def _proven(root: Root, folder: str, files: list[tuple[str, int, int]], expected: dict[str, str],
            checker: FileChecker) -> bool:
    """Whether the files of `folder` named in `expected` have those sha256s: an object store's each remembered by
    URL, size and modification time, else read; a local folder's looked up in the fingerprint cache at once, and
    those it cannot vouch for hashed."""
    stamps = {name: (size, mtime) for name, size, mtime in files if name in expected}
    if not root.is_local:
        return not any(checker.problem(_path(root, f"{folder}/{name}"), size, expected[name])
                       for name, (size, _) in stamps.items())
    cache = checker.cache
    known = cache.known(_path(root, folder), stamps)
    unproven = [name for name in expected if known.get(name) != expected[name]]
    hashed = cache.many([_path(root, f"{folder}/{name}") for name in unproven])
    return all(sha == expected[name] for name, sha in zip(unproven, hashed, strict=True))


def _manifest_blobs(root: Root, names: set[str], stage: str, key: str) -> set[str] | None:
    """The blobs the manifest of artifact `key` references (catalog-relative paths); None when it is missing from
    its folder's `names`, unreadable or not its own."""
    if f"{key}{MANIFEST_SUFFIX}" not in names:
        return None
    try:
        text = root.read_bytes(_path(root, f"{ARTIFACTS_DIR}/{stage}/{key}{MANIFEST_SUFFIX}"))
        manifest = Manifest.model_validate_json(text)
    except (OSError, ValidationError, ValueError):
        return None
    return set(manifest.blobs) if (manifest.key, manifest.stage) == (key, stage) else None


def write_seal(root: Root, proof: Proof, registry: Registry) -> None:
    record = {"listing": proof.listing, "registry": registry_digest(registry), "files": proof.files,
              "artifacts": len(registry), "sealed_at": datetime.now(UTC).isoformat()}
    beside = Root(root.local_path())  # the root itself, or this machine's registry folder for an object store
    beside.write_bytes_atomic(str(root.local_path(SEAL_FILE)), json.dumps(record, indent=1).encode())


def drop_seal(root: Root) -> None:
    root.local_path(SEAL_FILE).unlink(missing_ok=True)
