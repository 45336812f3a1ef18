"""The `openai` backend: any OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server, hosted).

Structured output asks for the answer schema (`json_schema`, or llama.cpp's `json_object` with a
`schema`; `auto` tries the first and falls back to the second when the server rejects it). Requests
time out, are retried on connection errors, timeouts, 429 and 5xx with exponential backoff, and are
bounded in number; the stage bounds how many are in flight.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from physflow.stages.physics_context.config import PhysicsContextConfig
from physflow.stages.physics_context.reasoner import ChatReasoner, ServiceError
from physflow.stages.physics_context.schema import answer_json_schema

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER_S = 60.0


class OpenAIReasoner(ChatReasoner):
    backend = "openai"

    def __init__(self, config: PhysicsContextConfig):
        super().__init__(config)
        self.model = config.model
        self.base_url = str(config.base_url)
        self.max_parallel = config.concurrency
        self._format = "json_schema" if config.response_format in ("auto", "json_schema") else "json_object"
        self._lock = threading.Lock()
        headers = {"Authorization": f"Bearer {config.api_key.get_secret_value()}"} if config.api_key else {}
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=httpx.Timeout(config.timeout_s),
            limits=httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=config.concurrency),
        )

    def check(self) -> None:
        """The endpoint must answer GET /models with an OpenAI model list."""
        try:
            resp = self._client.get("/models", timeout=min(self.config.timeout_s, 10.0))
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceError(f"openai backend: cannot use {self.base_url}/models: {type(exc).__name__}: {exc}"[:500]) from exc
        if resp.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ServiceError(f"openai backend: {self.base_url}/models answered HTTP {resp.status_code} without an "
                               f"OpenAI model list; is base_url the API root (often ending in /v1)?")

    def _payload(self, turns: list[dict[str, str]], seed: int) -> dict[str, Any]:
        schema = answer_json_schema()
        if self._format == "json_schema":
            response_format: dict[str, Any] = {
                "type": "json_schema", "json_schema": {"name": "physics_context", "schema": schema, "strict": True}}
        else:
            response_format = {"type": "json_object", "schema": schema}
        return {"model": self.model, "messages": turns, "temperature": self.config.temperature,
                "max_tokens": self.config.max_tokens, "seed": seed, "response_format": response_format}

    def complete(self, turns: list[dict[str, str]], seed: int) -> str:
        attempt = 0
        while True:
            try:
                resp = self._client.post("/chat/completions", json=self._payload(turns, seed))
            except httpx.TransportError as exc:
                problem, wait = f"{type(exc).__name__}: {exc}", None
            else:
                if resp.status_code == 200:
                    return self._content(resp)
                if self._should_fall_back(resp):
                    continue
                if resp.status_code not in RETRY_STATUS:
                    raise ServiceError(f"openai backend: {self.base_url}/chat/completions answered HTTP "
                                       f"{resp.status_code}: {resp.text[:300]}")
                problem, wait = f"HTTP {resp.status_code}", _retry_after(resp)
            if attempt >= self.config.max_retries:
                raise ServiceError(f"openai backend: {self.base_url} failed {attempt + 1} time(s): {problem}"[:500])
            time.sleep(wait if wait is not None else self.config.backoff_s * 2**attempt)
            attempt += 1

    def _should_fall_back(self, resp: httpx.Response) -> bool:
        """In auto mode, a server whose error names json_schema/response_format gets json_object from now on."""
        if self.config.response_format != "auto" or resp.status_code < 400:  # llama.cpp's server says 500
            return False
        with self._lock:
            if self._format != "json_schema":
                return True  # another thread already switched; resend in the new format
            if "response_format" not in resp.text and "json_schema" not in resp.text:
                return False
            self._format = "json_object"
        return True

    def _content(self, resp: httpx.Response) -> str:
        try:
            content = resp.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ServiceError(f"openai backend: {self.base_url} answered HTTP 200 without a chat completion "
                               f"({type(exc).__name__}): {resp.text[:200]!r}") from exc
        if not isinstance(content, str):
            raise ServiceError(f"openai backend: {self.base_url} answered a completion without text content")
        return content

    def close(self) -> None:
        self._client.close()


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return min(float(resp.headers["retry-after"]), MAX_RETRY_AFTER_S)
    except (KeyError, ValueError):
        return None
