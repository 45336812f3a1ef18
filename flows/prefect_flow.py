"""physflow's flows: Prefect flows whose parameters are stored without importing FastAPI.

Prefect stores a flow run's parameters as JSON that FastAPI's `jsonable_encoder` makes, and imports FastAPI for it
on a process's first flow run: about 0.13 s of the flow process's time, taken while the run starts (the imports
hold the GIL that the run's first work waits for), in every `physflow` command, each a process of its own. A
physflow flow takes one pydantic model, whose own JSON dump is the same document (`jsonable_encoder` dumps a
model so, by alias, and gives back the JSON values of the dump as they are); anything else still goes through
Prefect's encoder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import prefect
from pydantic import BaseModel


class Flow(prefect.Flow):  # type: ignore[type-arg]
    """A Prefect flow that stores parameters that are pydantic models as their JSON dump."""

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        if parameters and all(isinstance(value, BaseModel) for value in parameters.values()):
            return {key: value.model_dump(mode="json", by_alias=True) for key, value in parameters.items()}
        return super().serialize_parameters(parameters)

    def with_options(self, **options: Any) -> Flow:
        changed = super().with_options(**options)
        changed.__class__ = type(self)  # Prefect makes its copy a plain Flow
        return changed  # type: ignore[return-value]


def flow(**options: Any) -> Callable[[Callable[..., Any]], Flow]:
    """`prefect.flow` with keyword options (name, log_prints, ...), making a physflow `Flow`."""

    def decorate(fn: Callable[..., Any]) -> Flow:
        return Flow(fn, **options)

    return decorate
