from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from physflow.stages.base import StageConfig


class CaptionConfig(StageConfig):
    """Settings of the caption stage. Sidecar captions always win; the backend captions the rest.

    Fields marked `exclude` (the API key, the per-item cache file) say where things are, not what is
    computed: they stay out of the artifact cache key and of manifests.
    """

    backend: Literal["measured", "openai"] = Field(
        "measured", description="measured: composed from physflow's own measures, no model; openai: an "
        "OpenAI-compatible chat endpoint that takes images (a vision-language model).")
    model: str = Field("", max_length=200, description="openai: model name sent to the endpoint.")
    base_url: str | None = Field(None, max_length=500, description="openai: API root, e.g. http://127.0.0.1:8000/v1.")
    api_key: SecretStr | None = Field(None, exclude=True, description="openai: bearer token; never stored or hashed.")
    item_cache: str | None = Field(None, exclude=True, description="SQLite file caching each answer by request hash.")
    frames: int = Field(4, ge=0, le=16, description="openai: frames per clip sent as images, evenly spaced "
                        "(0: the measured facts only, for a text-only model).")
    image_width: int = Field(384, ge=64, le=2048, description="openai: width of each image in pixels (aspect kept).")
    jpeg_quality: int = Field(85, ge=30, le=100, description="openai: JPEG quality of the images.")
    response_format: Literal["auto", "json_schema", "json_object"] = Field(
        "auto", description="Structured output: json_schema, json_object with a schema (llama.cpp), or auto.")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature (0 = greedy).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Base seed; each clip's seed adds its content hash.")
    max_tokens: int = Field(160, ge=16, le=4096, description="openai: most tokens one caption may use.")
    max_chars: int = Field(400, ge=20, le=4000, description="Captions are cut to this many characters.")
    timeout_s: float = Field(60.0, gt=0.0, le=600.0, description="openai: seconds per HTTP request.")
    max_retries: int = Field(3, ge=0, le=10, description="openai: retries of a failed request (timeouts, 429, 5xx).")
    backoff_s: float = Field(1.0, ge=0.0, le=60.0, description="openai: first retry delay, doubled each retry, s.")
    concurrency: int = Field(4, ge=1, le=256, description="openai: requests in flight at once.")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _backend_needs(self) -> CaptionConfig:
        if self.backend == "openai" and (not self.base_url or not self.model):
            raise ValueError(f"backend 'openai' needs base_url and model (got base_url={self.base_url!r}, "
                             f"model={self.model!r})")
        return self
