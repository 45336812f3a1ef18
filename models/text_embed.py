"""A small text embedder for tiny configs: words hashed to buckets, embedded, position-encoded.

Pretrained bases bring their own text encoder outputs; this is the embedded default so that a tiny
generator is text-conditioned without any downloaded tokenizer or encoder. Hashing uses sha1 of the
lower-cased word, so token ids are stable across processes (Python's `hash` is salted).
"""

from __future__ import annotations

import hashlib
import re

import torch
from torch import nn

_WORD = re.compile(r"[a-z0-9]+")


def hash_tokens(prompts: list[str], vocab: int, max_tokens: int) -> torch.Tensor:
    """Token ids [B, max_tokens] (0 = padding, so an empty prompt is all padding)."""
    out = torch.zeros(len(prompts), max_tokens, dtype=torch.long)
    for i, prompt in enumerate(prompts):
        words = _WORD.findall((prompt or "").lower())[:max_tokens]
        for j, word in enumerate(words):
            out[i, j] = 1 + int(hashlib.sha1(word.encode()).hexdigest()[:8], 16) % (vocab - 1)
    return out


class HashTextEmbedder(nn.Module):
    """Prompts -> [B, max_tokens, dim] embeddings; padding positions are zero."""

    def __init__(self, dim: int = 32, vocab: int = 4096, max_tokens: int = 16):
        super().__init__()
        self.vocab, self.max_tokens = vocab, max_tokens
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.pos = nn.Parameter(torch.randn(1, max_tokens, dim) * 0.02)

    def forward(self, prompts: list[str]) -> torch.Tensor:
        ids = hash_tokens(prompts, self.vocab, self.max_tokens).to(self.pos.device)  # [B, T]
        pad = (ids > 0).unsqueeze(-1).to(self.pos.dtype)  # [B, T, 1]
        return (self.embed(ids) + self.pos) * pad  # [B, T, D]
