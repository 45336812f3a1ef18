from __future__ import annotations

from typing import Literal

from pydantic import Field

from physflow.stages.common.chat_config import ChatEndpointConfig


class CaptionConfig(ChatEndpointConfig):
    """Settings of the caption stage. Sidecar captions always win; the backend captions the rest."""

    backend: Literal["measured", "openai"] = Field(
        "measured", description="measured: composed from physflow's own measures, no model; openai: an "
        "OpenAI-compatible chat endpoint that takes images (a vision-language model).")
    frames: int = Field(4, ge=0, le=16, description="openai: frames per clip sent as images, evenly spaced "
                        "(0: the measured facts only, for a text-only model).")
    image_width: int = Field(384, ge=64, le=2048, description="openai: width of each image in pixels (aspect kept).")
    jpeg_quality: int = Field(85, ge=30, le=100, description="openai: JPEG quality of the images.")
    max_tokens: int = Field(160, ge=16, le=4096, description="openai: most tokens one caption may use.")
    max_chars: int = Field(400, ge=20, le=4000, description="Captions are cut to this many characters.")
    concurrency: int = Field(4, ge=1, le=256, description="openai: requests in flight at once.")
