"""Content-defined shards: adding items to a collection changes only the shards the new items fall in.

Items are ordered by their content key and a shard ends after any item whose key, read as a number,
is divisible by the target size (so shards average `target` items), or when it reaches `4 * target`; never
between items of the same key (the same content under two names stays in one shard).
Position-based chunking would instead shift every shard after an insertion and recompute them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def content_shards(items: Sequence[T], keys: Sequence[str], target: int) -> list[list[T]]:
    """Split `items` (with hex content `keys`) into shards of about `target` items."""
    if target < 1:
        raise ValueError(f"shard size must be at least 1, got {target}")
    order = sorted(range(len(items)), key=lambda i: keys[i])
    shards: list[list[T]] = []
    current: list[T] = []
    for n, i in enumerate(order):
        current.append(items[i])
        if n + 1 < len(order) and keys[order[n + 1]] == keys[i]:
            continue
        if int(keys[i][:12], 16) % target == 0 or len(current) >= 4 * target:
            shards.append(current)
            current = []
    if current:
        shards.append(current)
    return shards
