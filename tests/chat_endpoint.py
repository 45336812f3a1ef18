"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat API, that can misbehave on purpose: 503s first, garbage
(an HTML page), invalid content, slow answers. It counts requests and the most in flight at once, so tests can check
retries and the concurrency limit. A subclass says what a good answer holds (`content`) and may refuse more
requests (`refuse`)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class Behaviour:
    fail_first: int = 0  # answer 503 to this many chat requests first
    garbage: bool = False  # answer every request with an HTML page
    invalid_content: str | None = None  # answer this text as the completion's content
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


def overloaded() -> tuple[int, str]:
    return 503, json.dumps({"error": {"message": "overloaded"}})


class ChatEndpoint:
    model_id = "chat-test"

    def __init__(self, behaviour: Behaviour | None = None):
        self.behaviour = behaviour or self.default_behaviour()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def default_behaviour(self) -> Behaviour:
        return Behaviour()

    def content(self, body: dict[str, Any]) -> str:
        """The completion's content for a chat request that is answered well."""
        raise NotImplementedError

    def refuse(self, body: dict[str, Any]) -> tuple[int, str] | None:
        """An error reply for this chat request, or None to answer it."""
        return None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.behaviour.requests if "messages" in r]

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, str]:
        b = self.behaviour
        if b.garbage:
            return 200, "<html><body>502 Bad Gateway</body></html>"
        if path.endswith("/models"):
            return 200, json.dumps({"object": "list", "data": [{"id": self.model_id, "object": "model"}]})
        with self._lock:
            b.requests.append(body)
            failing = b.fail_first > 0
            b.fail_first -= 1 if failing else 0
        refused = overloaded() if failing else self.refuse(body)
        if refused is not None:
            return refused
        time.sleep(b.delay_s)
        content = b.invalid_content if b.invalid_content is not None else self.content(body)
        return 200, json.dumps({"id": "x", "object": "chat.completion", "model": body.get("model"),
                                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                             "finish_reason": "stop"}]})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, body: dict[str, Any]) -> None:
                b = endpoint.behaviour
                with endpoint._lock:
                    b.in_flight += 1
                    b.max_in_flight = max(b.max_in_flight, b.in_flight)
                try:
                    status, text = endpoint.answer(self.path, body)
                finally:
                    with endpoint._lock:
                        b.in_flight -= 1
                data = text.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

            def do_GET(self) -> None:
                self._reply({})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                self._reply(json.loads(self.rfile.read(length) or b"{}"))

        return Handler
