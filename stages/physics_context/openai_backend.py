"""The `openai` backend: any OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server, hosted).

Requests go through the shared chat client (stages/common/openai_chat.py): structured output against
the answer schema (`json_schema`, or llama.cpp's `json_object` with a `schema`; `auto` falls back from
the first to the second when the server rejects it), timeouts, retries with exponential backoff on
connection errors, timeouts, 429 and 5xx, a bounded connection pool. The stage bounds requests in flight.
"""

from __future__ import annotations

from physflow.stages.common.openai_chat import ChatClient, ChatServiceError
from physflow.stages.physics_context.config import PhysicsContextConfig
from physflow.stages.physics_context.reasoner import ChatReasoner, ServiceError
from physflow.stages.physics_context.schema import answer_json_schema


class OpenAIReasoner(ChatReasoner):
    backend = "openai"

    def __init__(self, config: PhysicsContextConfig):
        super().__init__(config)
        self.model = config.model
        self.base_url = str(config.base_url)
        self.max_parallel = config.concurrency
        self.client = ChatClient(
            base_url=self.base_url, model=config.model,
            api_key=config.api_key.get_secret_value() if config.api_key else None, timeout_s=config.timeout_s,
            max_retries=config.max_retries, backoff_s=config.backoff_s, concurrency=config.concurrency,
            response_format=config.response_format)

    def check(self) -> None:
        """The endpoint must answer GET /models with an OpenAI model list."""
        try:
            self.client.check()
        except ChatServiceError as exc:
            raise ServiceError(f"openai backend: {exc}") from exc

    def complete(self, turns: list[dict[str, str]], seed: int) -> str:
        try:
            return self.client.complete(turns, schema=answer_json_schema(), name="physics_context", seed=seed,
                                        temperature=self.config.temperature, max_tokens=self.config.max_tokens)
        except ChatServiceError as exc:
            raise ServiceError(f"openai backend: {exc}") from exc

    def close(self) -> None:
        self.client.close()
