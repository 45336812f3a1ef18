"""Multi-index hashing (Norouzi et al. 2012) over 64-bit perceptual hashes.

A hash is split into `chunks` substrings, each indexed in its own table. Two hashes within Hamming
distance r agree to within floor(r / chunks) bits on at least one substring (pigeonhole), so probing
each table with every substring value that close finds every candidate without a scan of the index.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from itertools import combinations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class HashIndex:
    def __init__(self, chunks: int = 4, bits: int = 64):
        if bits % chunks:
            raise ValueError(f"{bits} bits do not split into {chunks} equal chunks")
        self.chunks, self.width = chunks, bits // chunks
        self._mask = (1 << self.width) - 1
        self._tables: list[defaultdict[int, list[int]]] = [defaultdict(list) for _ in range(chunks)]
        self._hashes: list[int] = []
        self.probes = 0  # bucket look-ups made by queries (for tests and stats)

    def __len__(self) -> int:
        return len(self._hashes)

    def _parts(self, h: int) -> list[int]:
        return [(h >> (i * self.width)) & self._mask for i in range(self.chunks)]

    def add(self, h: int) -> int:
        """Index `h`; returns its position."""
        pos = len(self._hashes)
        self._hashes.append(h)
        for table, part in zip(self._tables, self._parts(h), strict=True):
            table[part].append(pos)
        return pos

    def query(self, h: int, radius: int) -> list[tuple[int, int]]:
        """(position, distance) of every indexed hash within `radius` bits of `h`, nearest first."""
        sub = radius // self.chunks
        seen: set[int] = set()
        for table, part in zip(self._tables, self._parts(h), strict=True):
            for flip in _flips(sub, self.width).tolist():
                self.probes += 1
                seen.update(table.get(part ^ flip, ()))
        hits = [(pos, (self._hashes[pos] ^ h).bit_count()) for pos in seen]
        return sorted(((p, d) for p, d in hits if d <= radius), key=lambda hit: (hit[1], hit[0]))


class FrozenHashIndex:
    """Multi-index hashing over a fixed set of hashes held in numpy arrays: per substring, its values sorted
    beside their positions, probed by binary search. About 30 bytes a hash (a Python `HashIndex` takes about ten
    times that), built in one sort per substring; for the catalog's clips that a run compares against."""

    def __init__(self, hashes: np.ndarray, chunks: int = 4, bits: int = 64):
        if bits % chunks:
            raise ValueError(f"{bits} bits do not split into {chunks} equal chunks")
        self.chunks, self.width = chunks, bits // chunks
        self._hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
        mask = np.uint64((1 << self.width) - 1)
        kind = np.min_scalar_type((1 << self.width) - 1)
        self._sorted: list[tuple[np.ndarray, np.ndarray]] = []  # per substring: (values sorted, their positions)
        for i in range(chunks):
            values = ((self._hashes >> np.uint64(i * self.width)) & mask).astype(kind)
            order = np.argsort(values, kind="stable").astype(np.int64 if len(values) > 2**31 - 1 else np.int32)
            self._sorted.append((values[order], order))
        # Where a substring is at most 16 bits, each value's bucket bounds in a table (0.25 MiB a substring, about
        # a millisecond to build) instead of two binary searches a probe: 2,400 queries (`near_any`) against 2,400
        # hashes took 115 ms searched and 21 ms so, a thousand against a million 0.33 s and 0.15 s.
        self._starts: list[np.ndarray | None] = [None] * chunks
        if self.width <= 16 and len(self._hashes) >= _TABLE_FROM:
            kind = np.int32 if len(self._hashes) < 2**31 else np.int64
            counts = (np.bincount(values, minlength=1 << self.width) for values, _ in self._sorted)
            self._starts = [np.concatenate([[0], np.cumsum(c)]).astype(kind) for c in counts]
        self.probes = 0

    def _bounds(self, i: int, probe: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where substring `i`'s sorted values equal each of `probe`: [lo, hi)."""
        starts = self._starts[i]
        if starts is not None:
            at = probe.astype(np.int64)
            return starts[at], starts[at + 1]
        values = self._sorted[i][0]
        return np.searchsorted(values, probe, "left"), np.searchsorted(values, probe, "right")

    def __len__(self) -> int:
        return len(self._hashes)

    def query(self, h: int, radius: int) -> list[tuple[int, int]]:
        """(position, distance) of every indexed hash within `radius` bits of `h`, nearest first."""
        if not len(self._hashes):
            return []
        mask = (1 << self.width) - 1
        flips = _flips(radius // self.chunks, self.width)
        found = []
        for i, (values, order) in enumerate(self._sorted):
            probe = (((h >> (i * self.width)) & mask) ^ flips).astype(values.dtype)
            self.probes += len(probe)
            lo, hi = self._bounds(i, probe)
            found.append(order[_ranges(lo, hi)])
        positions = np.concatenate(found)
        distances = np.bitwise_count(self._hashes[positions] ^ np.uint64(h))
        near = distances <= radius  # before the few left are made unique: most candidates are far
        hits = set(zip(distances[near].tolist(), positions[near].tolist(), strict=True))
        return [(pos, dist) for dist, pos in sorted(hits)]

    def near_any(self, hashes: np.ndarray, radius: int, block: int = 256) -> np.ndarray:
        """The positions (ascending, each once) of the indexed hashes within `radius` bits of any of `hashes`:
        the union of their `query` hits, probed `block` hashes at a time in numpy instead of one by one."""
        queries = np.ascontiguousarray(hashes, dtype=np.uint64)
        if not len(self._hashes) or not len(queries):
            return np.zeros(0, np.int64)
        mask = np.uint64((1 << self.width) - 1)
        flips = _flips(radius // self.chunks, self.width)
        found = []
        for start in range(0, len(queries), block):
            part = queries[start: start + block]
            for i, (values, order) in enumerate(self._sorted):
                probe = (((part >> np.uint64(i * self.width)) & mask)[:, None] ^ flips[None, :]).astype(values.dtype)
                lo, hi = self._bounds(i, probe.ravel())
                self.probes += probe.size
                positions = order[_ranges(lo, hi)]
                asked = np.repeat(np.repeat(np.arange(len(part)), len(flips)), hi - lo)  # each hit's query
                near = np.bitwise_count(self._hashes[positions] ^ part[asked]) <= radius
                found.append(positions[near])
        return np.unique(np.concatenate(found)).astype(np.int64)


_TABLE_FROM = 256
"""Hashes from which a `FrozenHashIndex` keeps bucket bounds in tables (under it, searching is about as fast)."""


@functools.cache
def _flips(radius: int, width: int) -> np.ndarray:
    """Every mask of at most `radius` set bits among `width` (0 first), made once for both indexes' probes;
    shared, so read-only."""
    masks = [0]
    for r in range(1, radius + 1):
        for bits in combinations(range(width), r):
            masks.append(sum(1 << b for b in bits))
    flips = np.asarray(masks, dtype=np.uint64)
    flips.setflags(write=False)
    return flips


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The indices of every range [lo[i], hi[i]), concatenated."""
    lengths = hi - lo
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, np.int64)
    starts = np.repeat(lo - np.cumsum(lengths) + lengths, lengths)
    return np.arange(total) + starts


_HEX = np.full(256, 255, np.uint8)
_HEX[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint8)
_HEX[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16, dtype=np.uint8)


def middle_hashes(phashes: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Each clip's middle keyframe hash (uint64) from its `phash` text (keyframe hashes as 16 hex digits joined by
    '-'), read in bulk, `_BULK` clips at a time: what the index holds of a reference clip."""
    text = pa.chunked_array([phashes]) if isinstance(phashes, pa.Array) else phashes
    out = np.zeros(len(text), np.uint64)
    for start in range(0, len(text), _BULK):
        part = text.slice(start, _BULK)
        out[start: start + len(part)] = _middle_hashes(part.combine_chunks() if part.num_chunks else
                                                       pa.array([], pa.string()))
    return out


_BULK = 1 << 16


def _middle_hashes(text: pa.StringArray) -> np.ndarray:
    lengths = pc.utf8_length(text).to_numpy(zero_copy_only=False)
    keyframes = (lengths + 1) // 17
    if text.null_count or np.any((keyframes == 0) | (keyframes * 17 - 1 != lengths)):
        raise ValueError("a phash is not keyframe hashes of 16 hex digits joined by '-'")
    starts = keyframes // 2 * 17
    out = np.zeros(len(text), np.uint64)
    for start in np.unique(starts):  # one slice per keyframe count (usually one count in a catalog)
        rows = np.flatnonzero(starts == start)
        picked = text if len(rows) == len(text) else text.take(pa.array(rows))
        digits = pc.utf8_slice_codeunits(picked, int(start), int(start) + 16)
        offsets = np.frombuffer(digits.buffers()[1], np.int32)[digits.offset: digits.offset + len(digits) + 1]
        raw = np.frombuffer(digits.buffers()[2], np.uint8)[offsets[0]: offsets[-1]]
        nibbles = _HEX[raw].reshape(len(rows), 16)
        if (nibbles == 255).any():
            raise ValueError("a phash is not keyframe hashes of 16 hex digits joined by '-'")
        packed = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]  # 8 bytes a hash, most significant first
        out[rows] = packed.view(">u8").ravel()
    return out
