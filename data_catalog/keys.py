"""Content keys: canonical JSON, sha256 of files, and the cache key of a stage output (DESIGN §5)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

_CHUNK = 1 << 20


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, so that equal values give equal text."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_key(
    stage: str,
    version: int,
    config: Any,
    input_keys: Iterable[str],
    weights_sha256: Iterable[str] = (),
) -> str:
    """sha256(stage name, stage VERSION, canonical config JSON, input keys, weights sha256).

    Input keys are content fingerprints (file sha256 or upstream artifact content sha), kept in the
    order given: a stage whose output depends on input order passes them ordered.
    """
    payload = {
        "stage": stage,
        "version": version,
        "config": json.loads(canonical_json(config)),
        "inputs": list(input_keys),
        "weights": sorted(weights_sha256),
    }
    return sha256_text(canonical_json(payload))


def shard_id(stage: str, input_keys: Iterable[str]) -> str:
    """Identity of a shard independent of config and version: a newer output for it supersedes older ones."""
    return sha256_text(canonical_json({"stage": stage, "inputs": sorted(input_keys)}))[:32]
