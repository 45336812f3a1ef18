"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat API for captions, that can misbehave on purpose.

It decodes the JPEG images each request carries and answers a caption that states what it received
("3 frames of 96x54"), so a test can check that frames really travel as decodable images. Switches make
it fail as real services do: 503s first, garbage (an HTML page), invalid content, slow answers.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np


@dataclass
class Behaviour:
    fail_first: int = 0
    garbage: bool = False
    invalid_content: str | None = None
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


def decode_images(body: dict[str, Any]) -> list[np.ndarray]:
    parts = [p for m in body.get("messages", []) if isinstance(m.get("content"), list) for p in m["content"]]
    urls = [p["image_url"]["url"] for p in parts if p.get("type") == "image_url"]
    raw = [np.frombuffer(base64.b64decode(u.split(",", 1)[1]), np.uint8) for u in urls]
    return [cv2.imdecode(r, cv2.IMREAD_COLOR) for r in raw]


class VlmEndpoint:
    def __init__(self, behaviour: Behaviour | None = None):
        self.behaviour = behaviour or Behaviour()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> VlmEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, str]:
        b = self.behaviour
        if b.garbage:
            return 200, "<html><body>502 Bad Gateway</body></html>"
        if path.endswith("/models"):
            return 200, json.dumps({"object": "list", "data": [{"id": "vlm-test", "object": "model"}]})
        with self._lock:
            b.requests.append(body)
            failing = b.fail_first > 0
            b.fail_first -= 1 if failing else 0
        if failing:
            return 503, json.dumps({"error": {"message": "overloaded"}})
        time.sleep(b.delay_s)
        images = decode_images(body)
        size = f"{images[0].shape[1]}x{images[0].shape[0]}" if images else "none"
        content = b.invalid_content if b.invalid_content is not None else json.dumps(
            {"caption": f"{len(images)} frames of {size}"})
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
