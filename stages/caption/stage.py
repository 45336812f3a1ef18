"""Caption stage: one `captions` row per kept clip.

A sidecar caption (a file beside the video) wins. Otherwise the `measured` backend composes a caption
from physflow's own measures, and the `openai` backend asks a vision-language model, showing it a few
frames and the measured facts. Good model captions are kept in a per-item cache; service failures
(after retries) fail the shard at its end so its artifact is not written and a re-run retries only the
clips without a cached caption.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from physflow.data_catalog.keys import canonical_json, sha256_text
from physflow.data_catalog.schemas import CAPTIONS
from physflow.stages.base import Stage
from physflow.stages.caption.cache import CaptionCache
from physflow.stages.caption.config import CaptionConfig
from physflow.stages.caption.measures import ClipMeasures, camera_class, compose
from physflow.stages.common.openai_chat import ChatServiceError
from physflow.stages.common.service_stage import ServiceBatches

Batch = list[ClipMeasures]


class CaptionStage(ServiceBatches, Stage[CaptionConfig, Batch]):
    name = "caption"
    VERSION = 3  # 2: objects counted by lasting tracks seen at once; 3: camera motion from the flow fields
    Config = CaptionConfig
    table = CAPTIONS
    service_error = ChatServiceError
    item_noun = "clip(s)"

    def __init__(self, config: CaptionConfig):
        super().__init__(config)
        self.vlm: Any = None
        self.cache: CaptionCache | None = None

    def weights_sha256(self) -> list[str]:
        from physflow.stages.caption.vlm import PROMPTS

        return [sha256_text("".join(p.read_text() for p in sorted(PROMPTS.glob("*.txt"))))[:12]]

    def setup(self) -> None:
        if self.config.backend == "openai":
            from physflow.stages.caption.vlm import VlmCaptioner

            self.vlm = VlmCaptioner(self.config)
            self.vlm.client.check()
            if self.config.item_cache:
                self.cache = CaptionCache(self.config.item_cache)

    def process(self, item: Batch) -> Iterable[dict[str, Any]]:
        item = [self._with_camera(m) for m in item]
        todo = [m for m in item if not (m.sidecar and m.sidecar.strip())]
        answers: dict[str, str | Exception] = {}
        if self.config.backend == "openai" and todo:
            with ThreadPoolExecutor(min(self.config.concurrency, len(todo)), thread_name_prefix="caption") as pool:
                answers = dict(zip((m.clip_id for m in todo), pool.map(self._ask, todo), strict=True))
        for m in item:
            yield self._row(m, answers.get(m.clip_id))

    @staticmethod
    def _with_camera(m: ClipMeasures) -> ClipMeasures:
        """The clip with its camera motion measured from its flow fields, when it has them."""
        if m.camera or not m.flow_path or (m.sidecar and m.sidecar.strip()):
            return m
        try:
            return dataclasses.replace(m, camera=camera_class(m.flow_path))
        except (OSError, ValueError):  # an unreadable flow file: the caption goes without the camera
            return m

    def error_rows(self, item: Batch, reason: str) -> list[dict[str, Any]]:
        return [{**self._identity(m, "measured"), "error": reason} for m in item]

    def _identity(self, m: ClipMeasures, source: str) -> dict[str, Any]:
        backend = "sidecar" if source == "sidecar" else self.config.backend
        model = self.config.model if backend == "openai" else None
        return {"clip_id": m.clip_id, "video_id": m.video_id, "source": source, "backend": backend, "model": model,
                "duration_s": round(m.duration_s, 3)}

    def _row(self, m: ClipMeasures, answer: str | Exception | None) -> dict[str, Any]:
        if m.sidecar and m.sidecar.strip():
            return {**self._identity(m, "sidecar"), "caption": " ".join(m.sidecar.split())[:self.config.max_chars]}
        if self.config.backend == "measured":
            return {**self._identity(m, "measured"), "caption": compose(m)}
        if isinstance(answer, Exception) or answer is None:
            return {**self._identity(m, "vlm"), "error": f"{type(answer).__name__}: {answer}"[:500]}
        return {**self._identity(m, "vlm"), "caption": answer}

    def _ask(self, m: ClipMeasures) -> str | Exception:
        from physflow.stages.caption.vlm import sample_frames

        try:
            turns = self.vlm.messages(m, sample_frames(m, self.config.frames, self.config.image_width))
        except Exception as exc:  # an unreadable clip is data
            return exc
        key = sha256_text(canonical_json({"model": self.config.model, "turns": turns, "seed": self.config.seed,
                                          "temperature": self.config.temperature,
                                          "max_tokens": self.config.max_tokens}))
        cached = self.cache.get(key) if self.cache else None
        if cached is not None:
            return cached
        try:
            caption = self.vlm.caption(turns, (self.config.seed + int(key[:8], 16)) % 2**31)
        except ChatServiceError as exc:
            with self._lock:
                self._service_errors.append(str(exc))
            return exc
        except Exception as exc:  # an invalid answer is data
            return exc
        if self.cache is not None:
            self.cache.put(key, caption)
        return caption


def run(inputs: Sequence[ClipMeasures], config: CaptionConfig) -> pa.Table:
    return CaptionStage(config).run(inputs)
