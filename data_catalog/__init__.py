"""Storage for physflow: table schemas, artifact and blob stores, cache keys and the DuckDB catalog."""

from physflow.data_catalog.artifacts import ArtifactStore, Manifest
from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.catalog import Catalog, CatalogLockTimeoutError, CatalogVersionError
from physflow.data_catalog.keys import cache_key, canonical_json, file_sha256
from physflow.data_catalog.schemas import CATALOG_SCHEMA_VERSION, TABLES, TableSpec

__all__ = [
    "CATALOG_SCHEMA_VERSION",
    "TABLES",
    "ArtifactStore",
    "BlobStore",
    "Catalog",
    "CatalogLockTimeoutError",
    "CatalogVersionError",
    "Manifest",
    "TableSpec",
    "cache_key",
    "canonical_json",
    "file_sha256",
]
