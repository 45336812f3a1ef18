"""A flow run's memo: what a run over the same inputs under the same parameters found, against the catalog as it
stood, so that the same run again, on a catalog nothing has changed since, plans no job and reads no artifact.

A warm run otherwise reads every artifact its batches plan from (each stage's job keys come from the rows of the
stage before): at 4,000 videos about 1,250 artifacts, 1.4 s, growing with the catalog. The memo is keyed by the
run's inputs (each file's path and content sha256), its parameters but the catalog's location, and the versions
of its stages and of physflow; it holds the run's artifact refs, its counts, and the digest of the registry that
the catalog's seal was made for after the run. It stands only while that seal holds (nothing under `artifacts/`
or `blobs/` changed since, seal.py) for that same registry (nothing registered or pruned since), and while every
artifact it names is registered and current: then the run's result is the memo's, its stages shown as one Cached
task run each, as `run_jobs` shows shards the seal vouches for. Anything else (a new or changed input, another
config, another run's registrations, a damaged file) and the run plans as usual, and records the memo anew.

Memos lie with the seal on this machine (`Root.local_path`), the newest `KEPT` of them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from physflow import __version__
from physflow.data_catalog import Catalog
from physflow.data_catalog.keys import canonical_json
from physflow.data_catalog.seal import read_seal
from physflow.data_catalog.storage import Root
from physflow.flows.runtime import ArtifactRef, replay_sealed
from physflow.stages.base import Stage

MEMO_DIR = "memos"
MEMO_VERSION = 2
"""Raised with any change to how the curate flow plans its jobs from its inputs (batches, keys, the dedup
reference): a memo of the older planning then stands no more. A stage's own changes raise its VERSION, in the key.
2: a batch's dedup is keyed by the reference clips near its own, not by the whole reference."""
KEPT = 16
"""Memos kept per catalog (the newest by time written): one per distinct run (inputs and parameters) since."""


class Memo(BaseModel):
    registry: str  # the registry digest of the seal made after the run
    refs: list[tuple[str, str]]  # (stage, key) of each artifact the run returned, in order
    result: dict[str, Any]  # what the flow keeps beside its refs (its batches' counts)


def memo_key(params: BaseModel, items: Iterable[tuple[Any, ...]], stages: Sequence[Stage[Any, Any]]) -> str:
    """The memo's key: the run's inputs (each a tuple of JSON values: path, sha256, ..., in order), its parameters
    but `catalog`, the stages' names, versions and weights, and physflow's version."""
    digest = hashlib.sha256()
    header = {"memo": MEMO_VERSION, "physflow": __version__,
              "params": params.model_dump(mode="json", exclude={"catalog"}),
              "stages": [[s.name, s.VERSION, sorted(s.weights_sha256())] for s in stages]}
    digest.update(canonical_json(header).encode())
    for item in items:  # one JSON line each: no path can read as two
        digest.update(b"\n" + json.dumps(list(item)).encode())
    return digest.hexdigest()


def _path(catalog: Catalog, key: str) -> Path:
    return catalog.root.local_path(MEMO_DIR, f"{key}.json")


def recall(catalog: Catalog, key: str, alongside: Callable[[dict[str, Any]], object] | None = None
           ) -> tuple[list[ArtifactRef], dict[str, Any]] | None:
    """The refs (as `run_jobs` returns sealed ones, their stages shown as Cached task runs) and the result of the
    run memoised under `key`, when the memo stands; None when there is none or it does not. When it stands,
    `alongside(result)` runs while the stages are shown (`replay_sealed`): the flow's report of the result."""
    try:
        memo = Memo.model_validate_json(_path(catalog, key).read_bytes())
    except (OSError, ValueError, ValidationError):
        return None
    seal = read_seal(catalog.root)
    if seal is None or seal.get("registry") != memo.registry:
        return None
    def report() -> object:
        assert alongside is not None
        return alongside(memo.result)

    refs = replay_sealed(catalog, memo.refs, None if alongside is None else report)
    return None if refs is None else (refs, memo.result)


def record(catalog: Catalog, key: str, refs: Sequence[ArtifactRef], result: dict[str, Any]) -> None:
    """Memoise a run that ended with the catalog sealed (nothing recorded otherwise), and drop the oldest memos
    beyond `KEPT`. A memo that cannot be written is skipped: it only saves a later run's planning."""
    seal = read_seal(catalog.root)
    if seal is None or not seal.get("registry"):
        return
    memo = Memo(registry=seal["registry"], refs=[(r.stage, r.key) for r in refs], result=result)
    path = _path(catalog, key)
    try:  # written as the seal is, beside it (the root itself, or this machine's registry folder)
        Root(str(catalog.root.local_path())).write_bytes_atomic(str(path), memo.model_dump_json().encode())
        memos = sorted(path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in memos[KEPT:]:
            old.unlink(missing_ok=True)
    except OSError:
        return
