"""The `openai` caption backend: a few frames of the clip as JPEG images plus the measured facts, sent to
an OpenAI-compatible vision-language model that answers `{"caption": ...}`. An answer that is not valid
gets one retry that says what was wrong; still invalid, the clip becomes an error row."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from physflow.stages.caption.config import CaptionConfig
from physflow.stages.caption.measures import ClipMeasures
from physflow.stages.common.openai_chat import ChatClient
from physflow.stages.common.video_io import iter_frames

PROMPTS = Path(__file__).parent / "prompts"
ANSWER_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"caption": {"type": "string"}},
                                 "required": ["caption"], "additionalProperties": False}


class InvalidCaptionError(ValueError):
    """The model's answer was not a caption, even after the retry."""


def prompt(name: str) -> str:
    return (PROMPTS / f"{name}.txt").read_text()


def sample_frames(m: ClipMeasures, n: int, width: int) -> list[np.ndarray]:
    """n frames evenly spaced over the clip, RGB, `width` pixels wide."""
    if n == 0:
        return []
    start = 0 if m.uri_is_clip else m.start_frame
    length = m.end_frame - m.start_frame
    wanted = {start + round(i * (length - 1) / max(n - 1, 1)) for i in range(n)} if length > 0 else {start}
    return [f for i, f in iter_frames(m.uri, start=min(wanted), end=max(wanted) + 1, width=width) if i in wanted]


def image_part(frame: np.ndarray, quality: int) -> dict[str, Any]:
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    url = "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode()
    return {"type": "image_url", "image_url": {"url": url}}


def parse_caption(answer: str, max_chars: int) -> tuple[str | None, str]:
    """The caption in an answer, or None and what is wrong with it."""
    text = answer.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at char {exc.pos})"
    caption = data.get("caption") if isinstance(data, dict) else None
    if not isinstance(caption, str) or not caption.strip():
        return None, 'expected an object {"caption": "..."} with a non-empty caption'
    caption = " ".join(caption.split())
    return caption[:max_chars], ""


class VlmCaptioner:
    def __init__(self, config: CaptionConfig):
        self.config = config
        self.client = ChatClient(
            base_url=str(config.base_url), model=config.model,
            api_key=config.api_key.get_secret_value() if config.api_key else None, timeout_s=config.timeout_s,
            max_retries=config.max_retries, backoff_s=config.backoff_s, concurrency=config.concurrency,
            response_format=config.response_format)

    def messages(self, m: ClipMeasures, frames: list[np.ndarray]) -> list[dict[str, Any]]:
        facts = json.dumps(m.facts(), ensure_ascii=False)
        text = prompt("user").replace("{facts}", facts)
        if not frames:  # plain text content: text-only chat templates do not take a list of parts
            return [{"role": "system", "content": prompt("system")}, {"role": "user", "content": text}]
        user = [{"type": "text", "text": text}, *(image_part(f, self.config.jpeg_quality) for f in frames)]
        return [{"role": "system", "content": prompt("system")}, {"role": "user", "content": user}]

    def caption(self, turns: list[dict[str, Any]], seed: int) -> str:
        c = self.config
        ask = {"schema": ANSWER_SCHEMA, "name": "caption", "temperature": c.temperature, "max_tokens": c.max_tokens}
        answer = self.client.complete(turns, seed=seed, **ask)
        caption, problem = parse_caption(answer, c.max_chars)
        if caption is None:
            retry = [*turns, {"role": "assistant", "content": answer[:1000]},
                     {"role": "user", "content": f"Your answer was rejected: {problem}. Answer again with only "
                                                 '{"caption": "..."}.'}]
            caption, problem = parse_caption(self.client.complete(retry, seed=seed + 1, **ask), c.max_chars)
        if caption is None:
            raise InvalidCaptionError(f"invalid answer after one retry: {problem}")
        return caption
