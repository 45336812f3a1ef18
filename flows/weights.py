"""The one place flows turn weights-registry entries into stage config values (DESIGN: weights policy).

A stage config names its weights fields (`StageConfig.weights_fields`); `resolve_weights` fills each empty
one from the registry: a `WeightsRef` (path + sha256) for fields typed so, else the file's path. An entry
that is configured but absent or not the pinned file fails here, before any work, naming the file; so does
a required entry that is not configured. An optional entry that is not configured leaves the field empty
and the stage uses its embedded fallback.
"""

from __future__ import annotations

import typing
from typing import TypeVar

from physflow.models.registry import Weights, WeightsRegistry
from physflow.stages.base import StageConfig
from physflow.stages.common.annotation import WeightsRef

ConfigT = TypeVar("ConfigT", bound=StageConfig)


def resolve_weights(config: ConfigT, registry: WeightsRegistry | None, use_weights: bool = True) -> ConfigT:
    """`config` with its empty weights fields filled from `registry` (None or `use_weights=False`: only
    required fields are looked up, in the default registry; optional ones stay empty)."""
    update: dict[str, object] = {}
    for name, spec in config.weights_fields().items():
        if getattr(config, name) is not None or not (use_weights or spec.required):
            continue
        registry = registry or WeightsRegistry.load()
        found = _first(registry, spec.names)
        if found is None:
            if spec.required:
                registry.require(spec.names[0])  # raises MissingWeightsError naming the file to provide
            continue
        update[name] = _value(type(config), name, found)
    return config.model_copy(update=update) if update else config


def _first(registry: WeightsRegistry, names: tuple[str, ...]) -> Weights | None:
    for name in names:
        found = registry.get(name)
        if found is not None:
            return found
    return None


def _value(config_cls: type[StageConfig], field_name: str, weights: Weights) -> object:
    annotation = config_cls.model_fields[field_name].annotation
    if WeightsRef in typing.get_args(annotation) or annotation is WeightsRef:
        if weights.sha256 is None:  # a folder: no single file to hash
            raise ValueError(f"weights {weights.name!r} at {weights.path} is a folder; {field_name} needs a file")
        return WeightsRef(path=str(weights.path), sha256=weights.sha256)
    return str(weights.path)
