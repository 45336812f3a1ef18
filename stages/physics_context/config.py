from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from physflow.stages.base import StageConfig, WeightsField


class PhysicsContextConfig(StageConfig):
    """Settings of the physics context stage.

    Fields marked `exclude` (the API key, the local model path, the per-item cache file) say where
    things are, not what is computed: they are left out of the artifact cache key and of manifests.
    The local model's content enters the key through its sha256 instead.
    """

    backend: Literal["rules", "openai", "local"] = Field(
        "rules", description="rules: embedded lexicon, no model; openai: an OpenAI-compatible chat endpoint; "
        "local: a GGUF model through llama-cpp-python (weights registry name 'llm').")
    model: str = Field("", max_length=200, description="Model name sent to the openai endpoint (required for openai).")
    base_url: str | None = Field(None, max_length=500, description="openai: endpoint base URL, e.g. http://127.0.0.1:8000/v1.")
    api_key: SecretStr | None = Field(None, exclude=True, description="openai: bearer token; never stored or hashed.")
    model_path: str | None = Field(None, exclude=True, description="local: GGUF file, set from the weights registry.")
    item_cache: str | None = Field(None, exclude=True, description="SQLite file caching each answer by prompt hash.")
    response_format: Literal["auto", "json_schema", "json_object"] = Field(
        "auto", description="Structured output: OpenAI json_schema, json_object with a schema (llama.cpp style), "
        "or auto (json_schema, falling back to json_object when the server rejects it).")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature (0 = greedy).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Base seed; each item's seed adds its content hash.")
    max_tokens: int = Field(768, ge=64, le=8192, description="Most tokens one answer may use (cost cap).")
    max_input_chars: int = Field(1000, ge=16, le=16_000, description="Captions are cut to this many characters.")
    timeout_s: float = Field(60.0, gt=0.0, le=600.0, description="openai: seconds per HTTP request.")
    max_retries: int = Field(3, ge=0, le=10, description="openai: retries of a failed request (timeouts, 429, 5xx).")
    backoff_s: float = Field(1.0, ge=0.0, le=60.0, description="openai: first retry delay, doubled each retry, seconds.")
    concurrency: int = Field(8, ge=1, le=256, description="openai: requests in flight at once.")
    batch_size: int = Field(32, ge=1, le=4096, description="Texts per work item (the unit of concurrency).")
    max_consecutive_failures: int = Field(
        16, ge=1, le=10_000, description="After this many service failures in a row the shard stops calling and fails.")
    n_ctx: int = Field(2048, ge=512, le=32_768, description="local: context window in tokens.")
    n_threads: int = Field(2, ge=1, le=256, description="local: CPU threads for llama.cpp.")

    def weights_fields(self) -> dict[str, WeightsField]:
        return {"model_path": WeightsField(("llm",), required=True)} if self.backend == "local" else {}

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _backend_needs(self) -> PhysicsContextConfig:
        if self.backend == "openai" and (not self.base_url or not self.model):
            raise ValueError(f"backend 'openai' needs base_url and model (got base_url={self.base_url!r}, "
                             f"model={self.model!r})")
        return self
