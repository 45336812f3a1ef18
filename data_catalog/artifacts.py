"""The artifact store: one Parquet file per stage output per shard, with a manifest written last.

Layout: `artifacts/<stage>/<cache_key>.parquet` and `artifacts/<stage>/<cache_key>.manifest.json`.
A manifest exists only once its Parquet file is complete, so "has a manifest" means "is complete";
a run killed mid-write leaves at most a temporary file that nothing reads. A manifest records its data
file's catalog-relative path, size and sha256, and the blobs its rows reference: `intact` checks them
before a cache hit is trusted and `read` before rows are used; a damaged artifact is quarantined (see
`integrity.py`) and reported to `on_damaged`, so its stage computes it again.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field, ValidationError

from physflow.data_catalog.blobs import BlobStore, is_ref
from physflow.data_catalog.integrity import DamagedFileError, FileChecker, Quarantine
from physflow.data_catalog.schemas import table_spec
from physflow.data_catalog.storage import Root

ARTIFACTS_DIR = "artifacts"
MANIFEST_SUFFIX = ".manifest.json"


class Manifest(BaseModel):
    """Provenance of one artifact; the record the catalog registry is built from."""

    key: str
    stage: str
    version: int
    table: str
    table_version: int
    shard: str
    config: dict[str, Any]
    inputs: list[str]
    weights: list[str] = Field(default_factory=list)
    rows: int
    bytes: int
    content_sha256: str
    path: str  # catalog-relative (manifests of older catalogs hold an absolute path; it is not used to read)
    blobs: list[str] = Field(default_factory=list)  # blob references the rows hold
    stats: dict[str, Any] = Field(default_factory=dict)
    flow_run_id: str | None = None
    created_at: datetime
    # Item reuse (stages that declare an item identity): the key of what an item's rows depend on, per item in
    # row order with its count of rows, under `recipe` (stage, version, config and weights, without inputs).
    recipe: str | None = None
    items: list[tuple[str, int]] = Field(default_factory=list)


DamagedFn = Callable[[str, str, str], None]
"""Called with (stage, key, reason) after a damaged artifact was quarantined."""


class ArtifactStore:
    def __init__(self, root: Root, checker: FileChecker | None = None, on_damaged: DamagedFn | None = None):
        self.root = root
        self.checker = checker or FileChecker(root)
        self.blobs = BlobStore(root, self.checker)
        self.on_damaged = on_damaged

    def _base(self, stage: str, key: str) -> str:
        return self.root.path(ARTIFACTS_DIR, stage, key)

    @staticmethod
    def relative_path(stage: str, key: str) -> str:
        """Where an artifact's data lives, relative to the catalog root (what manifests and the registry hold)."""
        return f"{ARTIFACTS_DIR}/{stage}/{key}.parquet"

    def data_path(self, stage: str, key: str) -> str:
        return self._base(stage, key) + ".parquet"

    def manifest_path(self, stage: str, key: str) -> str:
        return self._base(stage, key) + MANIFEST_SUFFIX

    def exists(self, stage: str, key: str) -> bool:
        return self.root.exists(self.manifest_path(stage, key))

    def manifest(self, stage: str, key: str) -> Manifest:
        return Manifest.model_validate_json(self.root.read_bytes(self.manifest_path(stage, key)))

    def read(self, stage: str, key: str, columns: Sequence[str] | None = None) -> pa.Table:
        """The artifact's rows, after checking its size and sha256 (a damaged one is quarantined and raises);
        `columns`: only those of them it has (the others are not read)."""
        if not self.exists(stage, key):
            raise FileNotFoundError(f"no complete artifact {stage}/{key} under {self.root.uri}")
        if self.intact(stage, key) is None:
            raise DamagedFileError(
                f"artifact {stage}/{key} under {self.root.uri} is damaged and was moved to quarantine; "
                f"run the {stage} stage again to recompute it"
            )
        # One file's reader, not `pq.read_table`'s dataset machinery: the same table at about 60% of the time (a
        # warm run reads every artifact of the batch it plans; 0.7 ms less an artifact of `clip_measures`).
        with self.root.fs.open_input_file(self.data_path(stage, key)) as fh:
            data = pq.ParquetFile(fh)
            return data.read(None if columns is None else [c for c in columns if c in data.schema_arrow.names])

    def intact(self, stage: str, key: str, with_blobs: bool = False, deep: bool = False) -> Manifest | None:
        """The manifest of a complete, undamaged artifact (and, `with_blobs`, undamaged blobs); None when
        there is none. A damaged one is quarantined with its reason and reported to `on_damaged` first."""
        if not self.exists(stage, key):
            return None
        reason = self.problem(stage, key, with_blobs, deep)
        if reason is not None and self.exists(stage, key):
            reason = self.problem(stage, key, with_blobs, deep)  # a writer may have replaced it meanwhile
        if reason is None:
            return self.manifest(stage, key)
        if self.exists(stage, key):
            self.quarantine(stage, key, reason)
        return None

    def problem(self, stage: str, key: str, with_blobs: bool = False, deep: bool = False) -> str | None:
        """Why the artifact is not usable (None: it is): unreadable manifest, data missing or damaged, or
        (`with_blobs`) a referenced blob missing or damaged, which is quarantined itself."""
        try:
            manifest = self.manifest(stage, key)
        except (ValidationError, ValueError) as exc:
            return f"manifest unreadable: {str(exc).splitlines()[0]}"
        except FileNotFoundError:
            return None  # removed meanwhile: not damaged, simply absent
        data = self.problem_of_data(manifest, deep)
        if data or not with_blobs:
            return data
        for ref in manifest.blobs:
            if (blob := self.blobs.problem(ref, deep)) is not None:
                self.blobs.quarantine(ref, blob)
                return f"blob {ref} {blob}"
        return None

    def problem_of_data(self, manifest: Manifest, deep: bool = False) -> str | None:
        reason = self.checker.problem(self.data_path(manifest.stage, manifest.key), manifest.bytes,
                                      manifest.content_sha256, deep)
        return None if reason is None else f"data {reason}"

    def quarantine(self, stage: str, key: str, reason: str) -> None:
        """Move the artifact (manifest first, so it stops counting as complete, then data) into quarantine."""
        jail = Quarantine(self.root)
        for path in (self.manifest_path(stage, key), self.data_path(stage, key)):
            if self.root.exists(path):
                jail.move(path, reason)
        if self.on_damaged is not None:
            self.on_damaged(stage, key, reason)

    def write(
        self,
        *,
        stage: str,
        version: int,
        key: str,
        table_name: str,
        table: pa.Table,
        shard: str,
        config: dict[str, Any],
        inputs: list[str],
        weights: list[str] | None = None,
        stats: dict[str, Any] | None = None,
        flow_run_id: str | None = None,
        recipe: str | None = None,
        items: list[tuple[str, int]] | None = None,
    ) -> Manifest:
        """Write the table, then its manifest; both atomically. Rewriting an existing key is harmless."""
        spec = table_spec(table_name)
        table = table.cast(spec.schema) if table.schema != spec.schema else table
        buf = io.BytesIO()
        # snappy: read back two to ten times faster than zstd (every artifact a run plans from is read whole; a
        # `clip_measures` shard of 21 columns 0.55 against 1.4 ms, a `detect` shard of masks 1 against 23 ms), for
        # tables about a fifth larger than zstd's; the catalog's bytes are its blobs'
        pq.write_table(table, buf, compression="snappy")
        data = buf.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        path = self.data_path(stage, key)
        self.root.write_bytes_atomic(path, data)
        self.checker.remember(path, sha)
        manifest = Manifest(
            key=key, stage=stage, version=version, table=table_name, table_version=spec.version,
            shard=shard, config=config, inputs=inputs, weights=weights or [], rows=table.num_rows,
            bytes=len(data), content_sha256=sha, path=self.relative_path(stage, key), blobs=blob_refs(table),
            stats=stats or {}, flow_run_id=flow_run_id, created_at=datetime.now(UTC), recipe=recipe,
            items=items or [],
        )
        self.root.write_bytes_atomic(self.manifest_path(stage, key), manifest.model_dump_json(indent=1).encode())
        return manifest

    def manifests(self) -> list[Manifest]:
        """Every complete artifact under the root with a readable manifest (used to rebuild a lost catalog)."""
        found = []
        for path in self.manifest_files():
            try:
                found.append(Manifest.model_validate(json.loads(self.root.read_bytes(path))))
            except (ValidationError, ValueError):
                continue  # damaged: `physflow catalog verify` reports it
        return found

    def manifest_files(self) -> Iterator[str]:
        """The path of every manifest under the root."""
        for stage_dir in self.root.fs.get_file_info(_selector(self.root.path(ARTIFACTS_DIR))):
            if stage_dir.type.name == "Directory":
                yield from self.root.listdir(stage_dir.path, MANIFEST_SUFFIX)


def blob_refs(table: pa.Table) -> list[str]:
    """The distinct blob references in the `*uri` string columns of `table`, sorted."""
    refs: set[str] = set()
    for name in table.column_names:
        if name.endswith("uri") and pa.types.is_string(table.schema.field(name).type):
            refs.update(v for v in table.column(name).to_pylist() if isinstance(v, str) and is_ref(v))
    return sorted(refs)


def _selector(folder: str) -> Any:
    import pyarrow.fs as pafs

    return pafs.FileSelector(folder, allow_not_found=True, recursive=False)
