from __future__ import annotations

from typing import Literal

from pydantic import Field

from physflow.stages.base import WeightsField
from physflow.stages.common.chat_config import ChatEndpointConfig


class PhysicsContextConfig(ChatEndpointConfig):
    """Settings of the physics context stage.

    Fields marked `exclude` (the API key, the local model path, the per-item cache file) say where
    things are, not what is computed: they are left out of the artifact cache key and of manifests.
    The local model's content enters the key through its sha256 instead.
    """

    backend: Literal["rules", "openai", "local"] = Field(
        "rules", description="rules: embedded lexicon, no model; openai: an OpenAI-compatible chat endpoint; "
        "local: a GGUF model through llama-cpp-python (weights registry name 'llm').")
    model_path: str | None = Field(None, exclude=True, description="local: GGUF file, set from the weights registry.")
    max_tokens: int = Field(768, ge=64, le=8192, description="Most tokens one answer may use (cost cap).")
    max_input_chars: int = Field(1000, ge=16, le=16_000, description="Captions are cut to this many characters.")
    concurrency: int = Field(8, ge=1, le=256, description="openai: requests in flight at once.")
    batch_size: int = Field(32, ge=1, le=4096, description="Texts per work item (the unit of concurrency).")
    max_consecutive_failures: int = Field(
        16, ge=1, le=10_000, description="After this many service failures in a row the shard stops calling and fails.")
    n_ctx: int = Field(2048, ge=512, le=32_768, description="local: context window in tokens.")
    n_threads: int = Field(2, ge=1, le=256, description="local: CPU threads for llama.cpp.")

    def weights_fields(self) -> dict[str, WeightsField]:
        return {"model_path": WeightsField(("llm",), required=True)} if self.backend == "local" else {}
