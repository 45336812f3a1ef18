"""Prompt embeddings as data: each caption is encoded once per text encoder and stored, so training reads
embeddings instead of keeping a large text encoder resident, and a re-run on the same captions encodes nothing.

Store layout: `<root>/<encoder_sha[:16]>/<sha256(text)>.safetensors`, one file per (encoder, text), holding
the embedding trimmed to the prompt's tokens (Wan's encoder output is zero past them) and the text itself.
Files are written to a temporary name and renamed, so a killed run never leaves a half-written embedding.
The encoder is loaded only when a text is missing.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from physflow.data_catalog.keys import file_sha256, sha256_text

Encode = Callable[[list[str]], torch.Tensor]  # prompts -> [B, L, D], zero past each prompt's tokens


def encoder_sha256(folder: Path, parts: tuple[str, ...] = ("text_encoder", "tokenizer")) -> str:
    """One fingerprint of a pipeline's text encoder and tokenizer files (their relative paths and sha256)."""
    digest = hashlib.sha256()
    for part in parts:
        for path in sorted(p for p in (folder / part).rglob("*") if p.is_file()):
            digest.update(f"{path.relative_to(folder)}:{file_sha256(path)}\n".encode())
    return digest.hexdigest()


class StoredPromptEmbeddings:
    """prompts -> [B, max_tokens, D] from the store, encoding (and storing) only texts not stored yet."""

    def __init__(self, root: Path, encoder_sha: str, encode: Encode, max_tokens: int):
        self.folder = root / encoder_sha[:16]
        self.encode, self.max_tokens = encode, max_tokens
        self.computed = 0  # texts encoded by this instance
        self.loaded = 0  # texts read from the store
        self._memo: dict[str, torch.Tensor] = {}

    def _path(self, text: str) -> Path:
        return self.folder / f"{sha256_text(text)}.safetensors"

    def _save(self, text: str, embedding: torch.Tensor) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self._path(text)
        tmp = final.with_name(f"{final.name}.tmp-{uuid.uuid4().hex[:8]}")
        save_file({"embedding": embedding.contiguous()}, str(tmp), metadata={"text": text})
        os.replace(tmp, final)

    def _fill(self, texts: list[str]) -> None:
        missing = []
        for text in texts:
            if text in self._memo:
                continue
            if self._path(text).exists():
                self._memo[text] = load_file(str(self._path(text)))["embedding"]
                self.loaded += 1
            else:
                missing.append(text)
        if not missing:
            return
        hidden = self.encode(missing).float().cpu()  # [M, L, D]
        for text, row in zip(missing, hidden, strict=True):
            length = int((row.abs().sum(-1) > 0).nonzero().max()) + 1 if row.abs().sum() > 0 else 0
            self._memo[text] = row[:length].clone()
            self._save(text, self._memo[text])
        self.computed += len(missing)

    def __call__(self, prompts: list[str], device: torch.device | None = None) -> torch.Tensor:
        unique = list(dict.fromkeys(prompts))
        self._fill(unique)
        dim = next(iter(self._memo.values())).shape[-1]
        out = torch.zeros(len(prompts), self.max_tokens, dim)
        for i, prompt in enumerate(prompts):
            emb = self._memo[prompt]
            out[i, : emb.shape[0]] = emb
        return out.to(device) if device is not None else out
