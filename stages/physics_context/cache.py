"""Per-item answer cache: a SQLite file of validated contexts keyed by prompt hash.

The stage's artifacts are cached per shard; this cache lets a shard that was interrupted, or that
failed on a service outage, resume without paying again for the answers it already got. Only valid
answers are kept; errors are retried on the next run.
"""

from __future__ import annotations

from pathlib import Path

from physflow.data_catalog.keys import canonical_json, sha256_text
from physflow.stages.common.item_cache import TextCache
from physflow.stages.physics_context.schema import PhysicsContext


def item_key(backend: str, model: str, template: str, text: str, sampling: dict[str, object]) -> str:
    """sha256 of (backend, model, prompt template version, input text, sampling settings)."""
    return sha256_text(canonical_json({"backend": backend, "model": model, "template": template, "text": text,
                                       "sampling": sampling}))


class ItemCache:
    """Validated contexts keyed by `item_key`, stored as JSON in the shared text cache."""

    def __init__(self, path: str | Path):
        self._text = TextCache(path, table="answers", column="context")

    def get_many(self, keys: list[str]) -> dict[str, PhysicsContext]:
        return {k: PhysicsContext.model_validate_json(v) for k, v in self._text.get_many(keys).items()}

    def put(self, key: str, context: PhysicsContext) -> None:
        self._text.put(key, context.model_dump_json())

    def __len__(self) -> int:
        return len(self._text)

    def close(self) -> None:
        self._text.close()
