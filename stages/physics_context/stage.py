"""Physics context stage: one `physics_context` row per caption or prompt (DiffPhy reasoning, WISA labels).

A work item is a batch of texts, so an LLM backend can have `concurrency` requests in flight inside
one item. Each text is sanitised (it is data, never instructions), looked up in the per-item cache by
prompt hash, and otherwise sent to the reasoner. An answer that stays invalid after one retry is an
error row. Service failures (unreachable, timeouts after retries) stop further calls after
`max_consecutive_failures` in a row and fail the shard at its end, so its artifact is not written and
a re-run retries exactly the texts that have no cached answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

from physflow.data_catalog.keys import canonical_json, sha256_text
from physflow.data_catalog.schemas import PHYSICS_CONTEXT
from physflow.stages.base import Stage
from physflow.stages.common.service_stage import ServiceBatches
from physflow.stages.physics_context.cache import ItemCache, item_key
from physflow.stages.physics_context.config import PhysicsContextConfig
from physflow.stages.physics_context.prompts import sanitize, template_version
from physflow.stages.physics_context.reasoner import PhysicsReasoner, ServiceError, build_reasoner
from physflow.stages.physics_context.schema import PhysicsContext


@dataclass(frozen=True)
class PhysicsItem:
    """One text to reason about: a clip or video caption, or a free prompt."""

    text: str
    source: str = "prompt"  # "prompt" or "caption"
    clip_id: str | None = None
    video_id: str | None = None

    def content_key(self) -> str:
        return sha256_text(canonical_json(asdict(self)))


Batch = list[PhysicsItem]


class PhysicsContextStage(ServiceBatches, Stage[PhysicsContextConfig, Batch]):
    name = "physics_context"
    VERSION = 2  # 2: laws that decide the outcome, phenomena led by the predicted outcomes
    Config = PhysicsContextConfig
    table = PHYSICS_CONTEXT
    service_error = ServiceError
    item_noun = "text(s)"

    def __init__(self, config: PhysicsContextConfig):
        super().__init__(config)
        self.reasoner: PhysicsReasoner | None = None
        self.cache: ItemCache | None = None
        self._consecutive_failures = 0  # shared by the request threads, under self._lock

    def weights_sha256(self) -> list[str]:
        """The prompt/lexicon version, then the weights files (for `local`, the GGUF file)."""
        return [f"template:{template_version()}", *super().weights_sha256()]

    def setup(self) -> None:
        self.reasoner = build_reasoner(self.config)
        self.reasoner.check()
        if self.config.item_cache and self.reasoner.cacheable:
            self.cache = ItemCache(self.config.item_cache)

    def batch_size(self) -> int:
        return self.config.batch_size

    def process(self, item: Batch) -> Iterable[dict[str, Any]]:
        assert self.reasoner is not None
        texts = [sanitize(rec.text, self.config.max_input_chars) for rec in item]
        keys = [self._key(t) for t in texts]
        found: dict[str, PhysicsContext | Exception] = dict(self.cache.get_many(keys)) if self.cache else {}
        todo = {k: t for k, t in zip(keys, texts, strict=True) if t and k not in found}
        workers = min(self.reasoner.max_parallel, self.config.concurrency, len(todo))
        if workers > 1:
            with ThreadPoolExecutor(workers, thread_name_prefix="physics") as pool:
                found.update(zip(todo, pool.map(self._ask, todo.values(), todo), strict=True))
        else:
            found.update((k, self._ask(t, k)) for k, t in todo.items())
        for rec, text, key in zip(item, texts, keys, strict=True):
            yield self._row(rec, text, found.get(key, ValueError("empty text")))

    def error_rows(self, item: Batch, reason: str) -> list[dict[str, Any]]:
        return [{**self._identity(rec, sanitize(rec.text, self.config.max_input_chars)), "error": reason}
                for rec in item]

    def _key(self, text: str) -> str:
        """The per-item cache key: backend, model (the GGUF sha256 for local), template version, text, sampling."""
        assert self.reasoner is not None
        model = self.weights_sha256()[-1] if self.config.backend == "local" else self.reasoner.model
        sampling = {"temperature": self.config.temperature, "seed": self.config.seed,
                    "max_tokens": self.config.max_tokens}
        return item_key(self.reasoner.backend, model, template_version(), text, sampling)

    def _ask(self, text: str, key: str) -> PhysicsContext | Exception:
        """One answer, or the exception that stands for it; counts service failures for the breaker."""
        assert self.reasoner is not None
        with self._lock:
            if self._consecutive_failures >= self.config.max_consecutive_failures:
                skipped = ServiceError(f"skipped after {self._consecutive_failures} service failures in a row")
                self._service_errors.append(str(skipped))
                return skipped
        seed = (self.config.seed + int(key[:8], 16)) % 2**31
        try:
            context = self.reasoner.reason(text, seed)
        except ServiceError as exc:
            with self._lock:
                self._consecutive_failures += 1
                self._service_errors.append(str(exc))
            return exc
        except Exception as exc:  # an invalid answer (or any item-level problem) is data
            with self._lock:
                self._consecutive_failures = 0
            return exc
        with self._lock:
            self._consecutive_failures = 0
        if self.cache is not None:
            self.cache.put(key, context)
        return context

    def _identity(self, rec: PhysicsItem, text: str) -> dict[str, Any]:
        return {"clip_id": rec.clip_id, "video_id": rec.video_id, "prompt_id": sha256_text(text)[:16],
                "source": rec.source, "prompt": text, "backend": self.config.backend,
                "model": self.reasoner.model if self.reasoner else None, "template_version": template_version()}

    def _row(self, rec: PhysicsItem, text: str, result: PhysicsContext | Exception) -> dict[str, Any]:
        row = self._identity(rec, text)
        if isinstance(result, Exception):
            return {**row, "error": f"{type(result).__name__}: {result}"[:500]}
        return {**row, "enhanced_prompt": result.enhanced_prompt, "properties": result.properties_json(),
                "phenomena": list(result.phenomena), "categories": list(result.categories), "laws": list(result.laws),
                "quantities": result.quantities.model_dump_json(), "motion_relevance": result.motion_relevance}


def run(inputs: Sequence[PhysicsItem], config: PhysicsContextConfig) -> pa.Table:
    return PhysicsContextStage(config).run(inputs)
