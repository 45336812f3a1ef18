"""Settings every stage that talks to an OpenAI-compatible chat endpoint shares (caption, physics context).

Fields marked `exclude` (the API key, the per-item cache file) say where things are, not what is computed: they
stay out of the artifact cache key and of manifests. Cache keys sort the config's keys, so where a field is
declared does not change them.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from physflow.stages.base import StageConfig


class ChatEndpointConfig(StageConfig):
    """The endpoint, its request settings and the per-item answer cache; a subclass adds `backend` (with an
    "openai" choice) and what it asks."""

    model: str = Field("", max_length=200, description="openai: model name sent to the endpoint (required).")
    base_url: str | None = Field(None, max_length=500, description="openai: API root, e.g. http://127.0.0.1:8000/v1.")
    api_key: SecretStr | None = Field(None, exclude=True, description="openai: bearer token; never stored or hashed.")
    item_cache: str | None = Field(None, exclude=True, description="SQLite file caching each answer by request hash.")
    response_format: Literal["auto", "json_schema", "json_object"] = Field(
        "auto", description="Structured output: OpenAI json_schema, json_object with a schema (llama.cpp style), "
        "or auto (json_schema, falling back to json_object when the server rejects it).")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature (0 = greedy).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Base seed; each item's seed adds its content hash.")
    timeout_s: float = Field(60.0, gt=0.0, le=600.0, description="openai: seconds per HTTP request.")
    max_retries: int = Field(3, ge=0, le=10, description="openai: retries of a failed request (timeouts, 429, 5xx).")
    backoff_s: float = Field(1.0, ge=0.0, le=60.0, description="openai: first retry delay, doubled each retry, seconds.")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _backend_needs(self) -> Self:
        if getattr(self, "backend", None) == "openai" and (not self.base_url or not self.model):
            raise ValueError(f"backend 'openai' needs base_url and model (got base_url={self.base_url!r}, "
                             f"model={self.model!r})")
        return self
