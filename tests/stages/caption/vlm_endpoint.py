"""The chat test server (tests/chat_endpoint.py) answering captions: it decodes the JPEG images each request
carries and answers a caption that states what it received ("3 frames of 96x54"), so a test can check that frames
really travel as decodable images."""

from __future__ import annotations

import base64
import json
from typing import Any

import cv2
import numpy as np

from tests.chat_endpoint import Behaviour, ChatEndpoint

__all__ = ["Behaviour", "VlmEndpoint", "decode_images"]


def decode_images(body: dict[str, Any]) -> list[np.ndarray]:
    parts = [p for m in body.get("messages", []) if isinstance(m.get("content"), list) for p in m["content"]]
    urls = [p["image_url"]["url"] for p in parts if p.get("type") == "image_url"]
    raw = [np.frombuffer(base64.b64decode(u.split(",", 1)[1]), np.uint8) for u in urls]
    return [cv2.imdecode(r, cv2.IMREAD_COLOR) for r in raw]


class VlmEndpoint(ChatEndpoint):
    model_id = "vlm-test"

    def content(self, body: dict[str, Any]) -> str:
        images = decode_images(body)
        size = f"{images[0].shape[1]}x{images[0].shape[0]}" if images else "none"
        return json.dumps({"caption": f"{len(images)} frames of {size}"})
