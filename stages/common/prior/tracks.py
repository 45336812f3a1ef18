"""Object tracks from the detect stage's rows, with the fragments an overlap tracker leaves stitched together.

Shared by generation's phase 2 (tracks in the coarse video) and the physics-prior training (tracks in real clips).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa

from physflow.models.tracker import PERSON
from physflow.stages.common.prior.scene import Tracks, make_tracks


def detection_tracks(detections: pa.Table, n_frames: int, width: int, *, max_objects: int, min_frames: int,
                     max_jump: float = 0.25, max_gap: int = 3) -> Tracks:
    """Object tracks from the detect stage's rows: its non-person tracks, fragments stitched (`stitch`), the
    `max_objects` seen longest of those seen in at least `min_frames` frames. Centre = box centre, radius =
    half the box's geometric mean side (pixels of the coarse video)."""
    observed: dict[int, dict[int, tuple[np.ndarray, float, float]]] = defaultdict(dict)
    for row in detections.to_pylist():
        if row.get("error") or row["cls"] == PERSON or row["frame"] >= n_frames:
            continue
        x1, y1, x2, y2 = row["box"]
        seen = observed[row["track_id"]].get(row["frame"])
        if seen is None or row["score"] > seen[2]:  # one box per track and frame: the surest
            centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
            observed[row["track_id"]][row["frame"]] = (centre, 0.5 * float(np.sqrt(max(x2 - x1, 0) * max(y2 - y1, 0))),
                                                       row["score"])
    tracks = stitch([{t: (c, r) for t, (c, r, _) in tr.items()} for _, tr in sorted(observed.items())],
                    max_jump * width, max_gap)
    ranked = sorted(tracks, key=lambda tr: (-len(tr), min(tr)))[:max_objects]
    return make_tracks(ranked, n_frames, min_frames)


Observed = dict[int, tuple[np.ndarray, float]]  # frame -> (centre px, radius px)


def stitch(tracks: list[Observed], max_px: float, max_gap: int) -> list[Observed]:
    """Join track fragments: a track that starts at most `max_gap` frames after another ends, within
    `max_px` of where that one was heading (constant velocity), continues it. Trackers that link boxes by
    overlap break a small fast object into one fragment per few frames; this makes it one track again."""
    chains: list[Observed] = []
    for tr in sorted(tracks, key=min):
        first = min(tr)
        best, best_d = None, max_px
        for chain in chains:
            last = max(chain)
            if not 0 < first - last <= max_gap:
                continue
            frames = sorted(chain)
            velocity = (chain[frames[-1]][0] - chain[frames[-2]][0]) / (frames[-1] - frames[-2]) if len(frames) > 1 else 0
            d = float(np.linalg.norm(chain[last][0] + velocity * (first - last) - tr[first][0]))
            if d < best_d:
                best, best_d = chain, d
        if best is None:
            chains.append(dict(tr))
        else:
            best.update(tr)
    return chains
