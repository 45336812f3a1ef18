"""Multi-index hashing (Norouzi et al. 2012) over 64-bit perceptual hashes.

A hash is split into `chunks` substrings, each indexed in its own table. Two hashes within Hamming
distance r agree to within floor(r / chunks) bits on at least one substring (pigeonhole), so probing
each table with every substring value that close finds every candidate without a scan of the index.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations


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

    def _near(self, value: int, radius: int) -> list[int]:
        out = [value]
        for r in range(1, radius + 1):
            for bits in combinations(range(self.width), r):
                flip = 0
                for b in bits:
                    flip |= 1 << b
                out.append(value ^ flip)
        return out

    def query(self, h: int, radius: int) -> list[tuple[int, int]]:
        """(position, distance) of every indexed hash within `radius` bits of `h`, nearest first."""
        sub = radius // self.chunks
        seen: set[int] = set()
        for table, part in zip(self._tables, self._parts(h), strict=True):
            for value in self._near(part, sub):
                self.probes += 1
                seen.update(table.get(value, ()))
        hits = [(pos, (self._hashes[pos] ^ h).bit_count()) for pos in seen]
        return sorted(((p, d) for p, d in hits if d <= radius), key=lambda hit: (hit[1], hit[0]))
