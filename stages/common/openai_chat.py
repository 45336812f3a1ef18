"""One OpenAI-compatible chat client (vLLM, llama.cpp's server, Ollama, hosted APIs) for stages that ask
a model: structured output against a JSON schema, timeouts, retries with exponential backoff on
connection errors, timeouts, 429 and 5xx, and a bounded connection pool. Messages may carry images
(`image_url` parts with data URLs), for vision-language models.

Service failures raise `ChatServiceError`; what the model answered is the caller's to validate.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER_S = 60.0


class ChatServiceError(RuntimeError):
    """The service failed (unreachable, timed out after retries, not the protocol)."""


class ChatClient:
    def __init__(self, *, base_url: str, model: str, api_key: str | None, timeout_s: float, max_retries: int,
                 backoff_s: float, concurrency: int, response_format: str = "auto"):
        self.base_url, self.model = base_url, model
        self.max_retries, self.backoff_s, self.timeout_s = max_retries, backoff_s, timeout_s
        self.auto = response_format == "auto"
        self._format = "json_object" if response_format == "json_object" else "json_schema"
        self._lock = threading.Lock()
        self._client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency))

    def check(self) -> None:
        """The endpoint must answer GET /models with an OpenAI model list."""
        try:
            resp = self._client.get("/models", timeout=min(self.timeout_s, 10.0))
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChatServiceError(f"cannot use {self.base_url}/models: {type(exc).__name__}: {exc}"[:500]) from exc
        if resp.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ChatServiceError(f"{self.base_url}/models answered HTTP {resp.status_code} without an OpenAI "
                                   f"model list; is base_url the API root (often ending in /v1)?")

    def complete(self, messages: list[dict[str, Any]], *, schema: dict[str, Any], name: str, seed: int,
                 temperature: float, max_tokens: int) -> str:
        """The text of one chat answer constrained to `schema`."""
        attempt = 0
        while True:
            body = {"model": self.model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens,
                    "seed": seed, "response_format": self._response_format(schema, name)}
            try:
                resp = self._client.post("/chat/completions", json=body)
            except httpx.TransportError as exc:
                problem, wait = f"{type(exc).__name__}: {exc}", None
            else:
                if resp.status_code == 200:
                    return self._content(resp)
                if self._fall_back(resp):
                    continue
                if resp.status_code not in RETRY_STATUS:
                    raise ChatServiceError(f"{self.base_url}/chat/completions answered HTTP {resp.status_code}: "
                                           f"{resp.text[:300]}")
                problem, wait = f"HTTP {resp.status_code}", _retry_after(resp)
            if attempt >= self.max_retries:
                raise ChatServiceError(f"{self.base_url} failed {attempt + 1} time(s): {problem}"[:500])
            time.sleep(wait if wait is not None else self.backoff_s * 2**attempt)
            attempt += 1

    def _response_format(self, schema: dict[str, Any], name: str) -> dict[str, Any]:
        if self._format == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
        return {"type": "json_object", "schema": schema}

    def _fall_back(self, resp: httpx.Response) -> bool:
        """In auto mode, a server whose error names json_schema/response_format gets json_object from now on."""
        if not self.auto or resp.status_code < 400:
            return False
        with self._lock:
            if self._format != "json_schema":
                return True
            if "response_format" not in resp.text and "json_schema" not in resp.text:
                return False
            self._format = "json_object"
        return True

    def _content(self, resp: httpx.Response) -> str:
        try:
            content = resp.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ChatServiceError(f"{self.base_url} answered HTTP 200 without a chat completion "
                                   f"({type(exc).__name__}): {resp.text[:200]!r}") from exc
        if not isinstance(content, str):
            raise ChatServiceError(f"{self.base_url} answered a completion without text content")
        return content

    def close(self) -> None:
        self._client.close()


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return min(float(resp.headers["retry-after"]), MAX_RETRY_AFTER_S)
    except (KeyError, ValueError):
        return None
