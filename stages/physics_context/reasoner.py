"""The PhysicsReasoner protocol, the answer parser with its one bounded retry, and the backend factory.

Two kinds of failure are kept apart. An answer that is not valid JSON for the schema (after one retry
that tells the model what was wrong) is an `InvalidAnswerError`: the item becomes an error row. A
service that cannot be reached, times out after its retries or does not speak the protocol is a
`ServiceError`: the shard fails (its good answers stay in the item cache) so a re-run retries it.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from typing import Protocol

from pydantic import ValidationError

from physflow.stages.physics_context.config import PhysicsContextConfig
from physflow.stages.physics_context.prompts import leaks_instructions, messages, repair_messages
from physflow.stages.physics_context.schema import PhysicsContext

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class InvalidAnswerError(ValueError):
    """The model's answer did not validate, even after the retry; the item becomes an error row."""


class ServiceError(RuntimeError):
    """The model service failed (unreachable, timed out, not the protocol); the run cannot go on."""


class PhysicsReasoner(Protocol):
    backend: str
    model: str
    max_parallel: int  # how many `reason` calls may run at once
    cacheable: bool  # whether answers are worth keeping in the per-item cache

    def check(self) -> None:
        """Fail now, naming the bad value, when the reasoner cannot work (run-level check)."""

    def reason(self, text: str, seed: int) -> PhysicsContext:
        """The physics context of one sanitised text."""


def parse_answer(answer: str) -> tuple[PhysicsContext | None, str]:
    """The validated context in a model's answer, or None and what is wrong with it."""
    match = _FENCE.match(answer)
    body = match.group(1) if match else answer.strip()
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at char {exc.pos})"
    try:
        context = PhysicsContext.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()[:5])
        return None, f"does not match the schema ({problems})"
    texts = [context.enhanced_prompt, *context.interactions, *context.phenomena]
    if any(leaks_instructions(t) for t in texts):
        return None, "repeats the instructions instead of describing the scene"
    return context, ""


class ChatReasoner(ABC):
    """An LLM reasoner: sends the prompt files' messages, validates, retries once with the problem."""

    backend: str
    model: str
    max_parallel = 1
    cacheable = True

    def __init__(self, config: PhysicsContextConfig):
        self.config = config

    @abstractmethod
    def complete(self, turns: list[dict[str, str]], seed: int) -> str:
        """The text of one chat answer; raises ServiceError when the service fails."""

    @abstractmethod
    def check(self) -> None:
        """Reach the service or load the model; raise ServiceError naming what is wrong."""

    def reason(self, text: str, seed: int) -> PhysicsContext:
        turns = messages(text)
        answer = self.complete(turns, seed)
        context, problem = parse_answer(answer)
        if context is not None:
            return context
        retry = self.complete(repair_messages(turns, answer, problem), seed + 1)
        context, problem = parse_answer(retry)
        if context is None:
            raise InvalidAnswerError(f"invalid answer after one retry: {problem}")
        return context


def build_reasoner(config: PhysicsContextConfig) -> PhysicsReasoner:
    """The reasoner for `config.backend` (not yet checked: call `check()` before work)."""
    if config.backend == "rules":
        from physflow.stages.physics_context.rules import RulesReasoner

        return RulesReasoner()
    if config.backend == "openai":
        from physflow.stages.physics_context.openai_backend import OpenAIReasoner

        return OpenAIReasoner(config)
    from physflow.stages.physics_context.local import LocalReasoner

    return LocalReasoner(config)
