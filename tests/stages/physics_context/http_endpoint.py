"""The chat test server (tests/chat_endpoint.py) answering physics contexts: its answers come from the rules
reasoner (so they are real schema-valid contexts), and it can also fail as llama.cpp's server does (rejecting
`json_schema`) or always fail for chosen captions."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from physflow.stages.physics_context.rules import RulesReasoner
from tests.chat_endpoint import Behaviour as ChatBehaviour
from tests.chat_endpoint import ChatEndpoint, overloaded

_CAPTION = re.compile(r"<caption>(.*)</caption>", re.DOTALL)


@dataclass
class Behaviour(ChatBehaviour):
    fail_texts: tuple[str, ...] = ()  # always 503 for captions containing one of these
    reject_json_schema: bool = False  # 422 on response_format type json_schema


class Endpoint(ChatEndpoint):
    model_id = "physics-test"

    def __init__(self, behaviour: Behaviour | None = None):
        super().__init__(behaviour)
        self.rules = RulesReasoner()

    def default_behaviour(self) -> Behaviour:
        return Behaviour()

    def content(self, body: dict[str, Any]) -> str:
        return self.rules.reason(_caption(body)).model_dump_json()

    def refuse(self, body: dict[str, Any]) -> tuple[int, str] | None:
        b: Behaviour = self.behaviour  # type: ignore[assignment]
        if any(t in _caption(body) for t in b.fail_texts):
            return overloaded()
        if b.reject_json_schema and body.get("response_format", {}).get("type") == "json_schema":
            return 422, json.dumps({"detail": [{"loc": ["body", "response_format", "type"], "msg": "bad"}]})
        return None


def _caption(body: dict[str, Any]) -> str:
    found = _CAPTION.search(body["messages"][1]["content"])
    return json.loads(found.group(1)) if found else ""
