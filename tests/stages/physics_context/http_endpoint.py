"""A real HTTP endpoint on 127.0.0.1 that speaks the OpenAI chat API and can misbehave on purpose.

Its answers come from the rules reasoner (so they are real schema-valid contexts), and switches make it
fail the way real services do: 503s before succeeding, rejecting `json_schema` like llama.cpp's server,
answering garbage, answering invalid content, answering slowly. It counts requests and the most in
flight at once, so tests can check retries, the one bounded retry and the concurrency limit.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from physflow.stages.physics_context.rules import RulesReasoner

_CAPTION = re.compile(r"<caption>(.*)</caption>", re.DOTALL)


@dataclass
class Behaviour:
    fail_first: int = 0  # answer 503 to this many chat requests first
    fail_texts: tuple[str, ...] = ()  # always 503 for captions containing one of these
    reject_json_schema: bool = False  # 422 on response_format type json_schema
    garbage: bool = False  # answer every request with an HTML page
    invalid_content: str | None = None  # answer this text as the completion's content
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


class Endpoint:
    def __init__(self, behaviour: Behaviour | None = None):
        self.behaviour = behaviour or Behaviour()
        self.rules = RulesReasoner()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> Endpoint:
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
            return 200, json.dumps({"object": "list", "data": [{"id": "physics-test", "object": "model"}]})
        with self._lock:
            b.requests.append(body)
            failing = b.fail_first > 0
            b.fail_first -= 1 if failing else 0
        caption = _CAPTION.search(body["messages"][1]["content"])
        text = json.loads(caption.group(1)) if caption else ""
        if failing or any(t in text for t in b.fail_texts):
            return 503, json.dumps({"error": {"message": "overloaded"}})
        if b.reject_json_schema and body.get("response_format", {}).get("type") == "json_schema":
            return 422, json.dumps({"detail": [{"loc": ["body", "response_format", "type"], "msg": "bad"}]})
        time.sleep(b.delay_s)
        content = b.invalid_content if b.invalid_content is not None else self.rules.reason(text).model_dump_json()
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
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._reply({})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                self._reply(json.loads(self.rfile.read(length) or b"{}"))

        return Handler
