"""Dedup: mark each clip whose keyframe pHashes are all within `max_distance` of an earlier clip's.

Earlier means: clips already in the catalog (the reference set, passed in) first; then, within the run,
the larger frame, the longer clip, then the clip id. Only canonical clips enter the index, so
`duplicate_of` always names a clip that is itself no duplicate. The indexes are multi-index hashing on
the middle keyframe's hash: each query probes a few buckets. The reference, which grows with the catalog,
stays an Arrow table and is indexed in numpy arrays (`ReferenceIndex`, about 40 bytes a clip); a reference
clip becomes Python values only when its middle hash is near a query's. Only the reference clips near a run's
clips can ever be linked to (`ReferenceIndex.candidates`): dedup against them alone gives the same links, so a
run needs no more of the reference than them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from physflow.data_catalog.schemas import CLIP_DUPLICATES
from physflow.stages.base import Stage
from physflow.stages.dedup.config import DedupConfig
from physflow.stages.dedup.index import FrozenHashIndex, HashIndex, middle_hashes

Row = dict[str, Any]
REFERENCE = pa.schema([("clip_id", pa.string()), ("video_id", pa.string()), ("phash", pa.string())])
"""A dedup reference table: the catalog's canonical clips a run's clips are compared against."""


@dataclass(frozen=True)
class DedupInput:
    clips: list[Row]  # this run's analysed clips
    reference: pa.Table | list[Row]  # canonical clips already in the catalog: clip_id, video_id, phash


@dataclass(frozen=True)
class _Owner:
    clip_id: str
    video_id: str
    hashes: tuple[int, ...]


def parse_phash(text: str) -> tuple[int, ...]:
    return tuple(int(part, 16) for part in text.split("-"))


class DedupStage(Stage[DedupConfig, DedupInput]):
    name = "dedup"
    VERSION = 2  # 2: writes only the links, in clip_duplicates
    Config = DedupConfig
    table = CLIP_DUPLICATES
    input_columns = ("clip_id", "video_id", "phash", "width", "height", "duration_s", "start_frame", "error")

    def items(self, inputs: Sequence[DedupInput]) -> Sequence[DedupInput]:
        return list(inputs)

    def count_in(self, inputs: Sequence[DedupInput], items: Sequence[DedupInput]) -> int:
        return sum(len(i.clips) for i in items)

    def process(self, item: DedupInput) -> Iterable[Row]:
        reference = ReferenceIndex(item.reference, self.config.chunks)
        index, owners = HashIndex(self.config.chunks), []
        links: dict[str, tuple[str, int]] = {}
        for row in sorted(compared(item.clips), key=_precedence):
            mine = _Owner(row["clip_id"], row["video_id"], parse_phash(row["phash"]))
            match = self._match(reference, index, owners, mine)
            if match:
                links[mine.clip_id] = match
            else:
                index.add(mine.hashes[len(mine.hashes) // 2])
                owners.append(mine)
        for row in item.clips:  # every clip gets a row: a link that disappears must read as none
            dup_of, distance = links.get(row["clip_id"], (None, None))
            yield {"clip_id": row["clip_id"], "video_id": row["video_id"], "duplicate_of": dup_of,
                   "dup_distance": distance}

    def _match(self, reference: ReferenceIndex, index: HashIndex, owners: list[_Owner], mine: _Owner
               ) -> tuple[str, int] | None:
        """The nearest earlier canonical clip within `max_distance` on every keyframe: of those nearest on the
        middle keyframe first, the catalog's before the run's, then by clip id (the catalog's) or by order."""
        middle, radius = mine.hashes[len(mine.hashes) // 2], self.config.max_distance
        candidates = sorted([*((d, 0, other.clip_id, other) for d, other in reference.near(middle, radius)),
                             *((d, 1, pos, owners[pos]) for pos, d in index.query(middle, radius))],
                            key=lambda c: c[:3])
        best: tuple[str, int] | None = None
        for *_, other in candidates:
            if len(other.hashes) != len(mine.hashes) or (other.video_id == mine.video_id and not self.config.same_video):
                continue
            dist = max((a ^ b).bit_count() for a, b in zip(other.hashes, mine.hashes, strict=True))
            if dist <= radius and (best is None or dist < best[1]):
                best = (other.clip_id, dist)
        return best

    def error_rows(self, item: DedupInput, reason: str) -> list[Row]:
        return [{"clip_id": r["clip_id"], "video_id": r["video_id"], "error": f"dedup failed: {reason}"}
                for r in item.clips]


class ReferenceIndex:
    """Reference clips (`REFERENCE`'s columns) indexed by their middle keyframe hash without becoming Python
    objects. `middles`: those hashes, when known (`merged`)."""

    def __init__(self, reference: pa.Table | list[Row], chunks: int, middles: np.ndarray | None = None):
        if not isinstance(reference, pa.Table):
            reference = pa.Table.from_pylist(reference, schema=REFERENCE)
        self._table = reference.select(REFERENCE.names)
        self._middles = middle_hashes(self._table.column("phash")) if middles is None else middles
        self._index = FrozenHashIndex(self._middles, chunks)

    def __len__(self) -> int:
        return self._table.num_rows

    def merged(self, other: ReferenceIndex) -> ReferenceIndex:
        """One index of both's clips (this one's first)."""
        return ReferenceIndex(pa.concat_tables([self._table, other._table]), self._index.chunks,
                              np.concatenate([self._middles, other._middles]))

    def near(self, middle: int, radius: int) -> list[tuple[int, _Owner]]:
        """(distance, clip) of the reference clips whose middle keyframe hash is within `radius` bits of `middle`."""
        out = []
        for pos, distance in self._index.query(middle, radius):
            row = self._row(pos).to_pylist()[0]
            out.append((distance, _Owner(row["clip_id"], row["video_id"], parse_phash(row["phash"]))))
        return out

    def candidates(self, clips: Iterable[Row], radius: int) -> pa.Table:
        """The reference clips that dedup of `clips` compares with (in reference order): those whose middle
        keyframe hash lies within `radius` bits of a compared clip's (`compared`). `DedupStage` with `radius` as
        its `max_distance` links `clips` against them as against the whole reference: it never looks at another
        (`_match` takes its candidates from `near`). Usually a handful, so that what a run's dedup reads of a
        reference that grows with the catalog, and its cache key, change only where a clip near its own came or
        went."""
        hashes = [parse_phash(row["phash"]) for row in compared(clips)]
        positions = self._index.near_any(np.array([h[len(h) // 2] for h in hashes], np.uint64), radius)
        if not len(positions):
            return self._table.schema.empty_table()
        return pa.concat_tables([self._row(pos) for pos in positions.tolist()])

    def _row(self, pos: int) -> pa.Table:
        # a row at a time: `take` on a table of many chunks (a batch's each) would first copy every chunk
        return self._table.slice(pos, 1)


def compared(clips: Iterable[Row]) -> Iterator[Row]:
    """The clips dedup compares: hashed and not failed."""
    return (r for r in clips if r.get("phash") and not r.get("error"))


def _precedence(row: Row) -> tuple[Any, ...]:
    pixels = (row.get("width") or 0) * (row.get("height") or 0)
    return (-pixels, -(row.get("duration_s") or 0.0), row["video_id"], row["start_frame"])


def run(inputs: Sequence[DedupInput], config: DedupConfig) -> pa.Table:
    return DedupStage(config).run(inputs)
