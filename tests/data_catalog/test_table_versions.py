"""Each table's columns are pinned to its version: a change to a table's columns must raise its version.

Views over artifacts that are all of a table's current version bind on its schema without opening every file
(`Catalog._refresh_view`), so two schemas under one version would make queries of older catalogs fail. When this
test fails after a deliberate change, raise the table's version in data_catalog/schemas.py and put the new
version and the fingerprint the failure prints here.
"""

from __future__ import annotations

import hashlib

from physflow.data_catalog.schemas import TABLES

PINNED = {
    "body_fits": (3, "ac07aa36ef734c79"),
    "captions": (1, "8ea3b2d61f2a0201"),
    "checkpoints": (2, "4e27915aa60cf5bb"),
    "clip_decisions": (1, "98bb5071a42bcad1"),
    "clip_duplicates": (1, "533f3b95a4c41722"),
    "clip_files": (2, "18dde85d2c420c8d"),
    "clip_measures": (1, "86690664a33f9d96"),
    "clips": (4, "e720168c86d28820"),
    "detections": (2, "c49e011a020ce462"),
    "flows": (2, "7261946d240112ed"),
    "generations": (2, "dbe40e7d8cb73b7e"),
    "part_masks": (2, "d40f95d3ae9c682d"),
    "physics_context": (3, "d6de0579c2d78125"),
    "physics_metrics": (2, "399951c0bb2a56a5"),
    "physics_priors": (1, "f8115382ad88062e"),
    "poses": (3, "ad4c309d87ab2bd5"),  # 3: its columns changed three times under version 2
    "synth_clips": (1, "eeaf3c44d521fb3d"),
    "synth_objects": (2, "7710843310aec890"),  # 2: its columns changed once under version 1
    "text_embeddings": (1, "6fefddd5f9418c6a"),
    "videos": (1, "d53efbf1ef0fb606"),
}


def _fingerprint(name: str) -> str:
    columns = "\n".join(f"{field.name}:{field.type}" for field in TABLES[name].schema)
    return hashlib.sha256(columns.encode()).hexdigest()[:16]


def test_every_tables_columns_are_pinned_to_its_version():
    current = {name: (spec.version, _fingerprint(name)) for name, spec in TABLES.items()}
    changed = {name: (PINNED.get(name), now) for name, now in current.items() if PINNED.get(name) != now}
    for name, (pinned, now) in changed.items():
        if pinned is not None and pinned[1] != now[1]:  # the columns changed: the version must have risen
            assert now[0] > pinned[0], f"{name}: columns changed, raise its version above {pinned[0]}"
    assert not changed, f"update PINNED (version, fingerprint): {changed}"
