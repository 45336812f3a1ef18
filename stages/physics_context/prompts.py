"""Prompt files, caption sanitising and the message list sent to an LLM.

The caption is data: it is normalised, stripped of control characters and markup, cut to a maximum
length and put, JSON-quoted, between <caption> tags, so it cannot close the tag or pose as a turn of the
conversation. `TEMPLATE_VERSION` hashes the prompt files and the rules data, so editing either changes
every cache key that depends on them.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from functools import cache
from pathlib import Path

from physflow.stages.physics_context.schema import answer_json_schema

HERE = Path(__file__).parent
PROMPTS_DIR = HERE / "prompts"
DATA_DIR = HERE / "data"

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
_MARKUP = re.compile(r"[<>{}\[\]`]")
_SPACE = re.compile(r"\s+")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
# Sentences that address the model instead of describing a scene (defence in depth: the LLM is also told
# that the caption is data, and answers that repeat the instructions are rejected).
_META = re.compile(
    r"\b(ignore|disregard|forget|override|bypass)\b.{0,60}\b(instruction|prompt|rule|above|previous|everything)"
    r"|\b(system|developer) (prompt|message|instruction)|\byou are (now )?(a|an|the|no longer)\b"
    r"|\b(print|reveal|repeat|output|show|leak)\b.{0,40}\b(prompt|instruction)|\bjailbreak",
    re.IGNORECASE,
)


@cache
def prompt_text(name: str) -> str:
    return (PROMPTS_DIR / f"{name}.txt").read_text()


@cache
def template_version() -> str:
    """sha256 (12 hex) over the prompt files, the rules data and the answer schema."""
    digest = hashlib.sha256()
    for path in sorted([*PROMPTS_DIR.glob("*.txt"), *DATA_DIR.glob("*.toml")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps(answer_json_schema(), sort_keys=True).encode())
    return digest.hexdigest()[:12]


def sanitize(text: str, max_chars: int) -> str:
    """The caption as safe, bounded data: NFKC, no control characters or markup, one line, no sentences
    addressed to the model, at most max_chars."""
    text = unicodedata.normalize("NFKC", str(text))
    text = _MARKUP.sub(" ", _CONTROL.sub(" ", text))
    text = _SPACE.sub(" ", text).strip()
    text = " ".join(s for s in _SENTENCE.split(text) if not _META.search(s))
    if len(text) > max_chars:
        cut = text[:max_chars]
        text = (cut.rsplit(" ", 1)[0] if " " in cut[max_chars // 2:] else cut).rstrip()
    return text


def messages(caption: str) -> list[dict[str, str]]:
    """System and user turns for one (already sanitised) caption."""
    quoted = json.dumps(caption, ensure_ascii=False)
    return [
        {"role": "system", "content": prompt_text("system")},
        {"role": "user", "content": prompt_text("user").replace("{caption}", quoted)},
    ]


def repair_messages(base: list[dict[str, str]], answer: str, problem: str) -> list[dict[str, str]]:
    """The conversation for the one retry: the rejected answer (cut) and what was wrong with it."""
    return [
        *base,
        {"role": "assistant", "content": answer[:2000]},
        {"role": "user", "content": prompt_text("repair").replace("{problem}", problem[:400])},
    ]


@cache
def _instruction_shingles(n: int = 6) -> frozenset[tuple[str, ...]]:
    words = re.findall(r"[a-z]+", prompt_text("system").lower())
    return frozenset(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def leaks_instructions(text: str, n: int = 6) -> bool:
    """True when `text` repeats any run of n words of the system prompt (a sign the model was hijacked)."""
    words = re.findall(r"[a-z]+", text.lower())
    shingles = _instruction_shingles(n)
    return any(tuple(words[i:i + n]) in shingles for i in range(len(words) - n + 1))
