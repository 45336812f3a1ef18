"""The artifact store: one Parquet file per stage output per shard, with a manifest written last.

Layout: `artifacts/<stage>/<cache_key>.parquet` and `artifacts/<stage>/<cache_key>.manifest.json`.
A manifest exists only once its Parquet file is complete, so "has a manifest" means "is complete";
a run killed mid-write leaves at most a temporary file that nothing reads.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from physflow.data_catalog.schemas import table_spec
from physflow.data_catalog.storage import Root

ARTIFACTS_DIR = "artifacts"


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
    path: str
    stats: dict[str, Any] = Field(default_factory=dict)
    flow_run_id: str | None = None
    created_at: datetime


class ArtifactStore:
    def __init__(self, root: Root):
        self.root = root

    def _base(self, stage: str, key: str) -> str:
        return self.root.path(ARTIFACTS_DIR, stage, key)

    def data_path(self, stage: str, key: str) -> str:
        return self._base(stage, key) + ".parquet"

    def manifest_path(self, stage: str, key: str) -> str:
        return self._base(stage, key) + ".manifest.json"

    def exists(self, stage: str, key: str) -> bool:
        return self.root.exists(self.manifest_path(stage, key))

    def manifest(self, stage: str, key: str) -> Manifest:
        return Manifest.model_validate_json(self.root.read_bytes(self.manifest_path(stage, key)))

    def read(self, stage: str, key: str) -> pa.Table:
        if not self.exists(stage, key):
            raise FileNotFoundError(f"no complete artifact {stage}/{key} under {self.root.uri}")
        with self.root.fs.open_input_file(self.data_path(stage, key)) as fh:
            return pq.read_table(fh)

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
    ) -> Manifest:
        """Write the table, then its manifest; both atomically. Rewriting an existing key is harmless."""
        spec = table_spec(table_name)
        table = table.cast(spec.schema) if table.schema != spec.schema else table
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        data = buf.getvalue()
        path = self.data_path(stage, key)
        self.root.write_bytes_atomic(path, data)
        manifest = Manifest(
            key=key, stage=stage, version=version, table=table_name, table_version=spec.version,
            shard=shard, config=config, inputs=inputs, weights=weights or [], rows=table.num_rows,
            bytes=len(data), content_sha256=hashlib.sha256(data).hexdigest(), path=path,
            stats=stats or {}, flow_run_id=flow_run_id, created_at=datetime.now(UTC),
        )
        self.root.write_bytes_atomic(self.manifest_path(stage, key), manifest.model_dump_json(indent=1).encode())
        return manifest

    def manifests(self) -> list[Manifest]:
        """Every complete artifact under the root (used to rebuild a lost catalog)."""
        found = []
        folder = self.root.path(ARTIFACTS_DIR)
        for stage_dir in self.root.fs.get_file_info(_selector(folder)):
            if stage_dir.type.name != "Directory":
                continue
            for path in self.root.listdir(stage_dir.path, ".manifest.json"):
                found.append(Manifest.model_validate(json.loads(self.root.read_bytes(path))))
        return found


def _selector(folder: str) -> Any:
    import pyarrow.fs as pafs

    return pafs.FileSelector(folder, allow_not_found=True, recursive=False)
