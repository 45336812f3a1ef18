"""Prompt embeddings as data: each caption is encoded once per text encoder and stored, so training reads
embeddings instead of keeping a large text encoder resident, and a re-run on the same captions encodes nothing.

An embedding is a content-addressed blob of the catalog (safetensors: the embedding trimmed to the prompt's
tokens, as Wan's encoder output is zero past them, with the text in its metadata) and a row of the
`text_embeddings` table: encoder sha256, text sha256, text, blob uri and sha256, shape, dtype. A run is given
the rows registered for its encoder (`EmbeddingStore`); it reads those blobs (checked against their names: a
damaged or missing one is encoded again) and encodes only the texts without a row. The rows of what it encoded
(`StoredPromptEmbeddings.rows`) are registered by the train flow, as every stage output is.

The encoder is loaded only when a text is missing; with `offload` it is dropped right after that batch (and
the accelerator's cache emptied), so it is never resident during training.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from physflow.data_catalog.blobs import BlobStore
from physflow.data_catalog.integrity import DamagedFileError
from physflow.data_catalog.keys import file_sha256, sha256_text
from physflow.data_catalog.storage import Root

Encode = Callable[[list[str]], torch.Tensor]  # prompts -> [B, L, D], zero past each prompt's tokens

_SHA_MEMO: dict[tuple[Any, ...], str] = {}


def encoder_sha256(folder: Path, parts: tuple[str, ...] = ("text_encoder", "tokenizer")) -> str:
    """One fingerprint of a pipeline's text encoder and tokenizer files (their relative paths and sha256),
    computed once per process while the files keep their sizes and mtimes (UMT5-XXL is ~11 GB to read)."""
    files = sorted(p for part in parts for p in (folder / part).rglob("*") if p.is_file())
    stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if stamp not in _SHA_MEMO:
        digest = hashlib.sha256()
        for path in files:
            digest.update(f"{path.relative_to(folder)}:{file_sha256(path)}\n".encode())
        _SHA_MEMO[stamp] = digest.hexdigest()
    return _SHA_MEMO[stamp]


@dataclass(frozen=True)
class EmbeddingStore:
    """Where a run's prompt embeddings live: the catalog root (its blob store; None: in memory only) and the
    `text_embeddings` rows already registered for the run's encoder, as text sha256 -> blob uri; `offload`:
    free the encoder after each batch of missing texts."""

    root: str | None = None
    known: Mapping[str, str] = field(default_factory=dict)
    offload: bool = True


def prompt_length(hidden: torch.Tensor) -> int:
    """Tokens of one prompt's hidden states [L, D]: up to the last non-zero row."""
    nonzero = (hidden.abs().sum(-1) > 0).nonzero()
    return int(nonzero.max()) + 1 if len(nonzero) else 0


class StoredPromptEmbeddings:
    """prompts -> [B, max_tokens, D] from the store, encoding (and storing) only texts not stored yet.

    `load_encoder` builds the encoder when first needed."""

    def __init__(self, encoder_sha: str, load_encoder: Callable[[], Encode], max_tokens: int, store: EmbeddingStore):
        self.encoder_sha, self.load_encoder, self.max_tokens = encoder_sha, load_encoder, max_tokens
        self.store, self.offload = store, store.offload
        self.blobs = BlobStore(Root(store.root)) if store.root is not None else None
        self.computed = 0  # texts encoded by this instance
        self.loaded = 0  # texts read from the store
        self.encoder_loads = 0  # times the encoder was built
        self.rows: list[dict[str, Any]] = []  # `text_embeddings` rows of the texts encoded here
        self._encoder: Encode | None = None
        self._memo: dict[str, torch.Tensor] = {}

    def _read(self, text: str) -> torch.Tensor | None:
        uri = self.store.known.get(sha256_text(text))
        if uri is None or self.blobs is None:
            return None
        try:
            return load_safetensors(self.blobs.read_bytes(uri))["embedding"]
        except (DamagedFileError, FileNotFoundError):
            return None  # quarantined or gone: encoded again, and a new row registered

    def _write(self, text: str, embedding: torch.Tensor) -> None:
        if self.blobs is None:
            return
        data = save_safetensors({"embedding": embedding.contiguous()}, metadata={"text": text})
        uri, sha = self.blobs.put_bytes(data, "safetensors")
        self.rows.append({"encoder_sha256": self.encoder_sha, "text_sha256": sha256_text(text), "text": text,
                          "uri": self.blobs.ref(uri), "sha256": sha, "shape": list(embedding.shape),
                          "dtype": str(embedding.dtype).removeprefix("torch."), "error": None})

    def _encode(self, texts: list[str]) -> torch.Tensor:
        if self._encoder is None:
            self._encoder = self.load_encoder()
            self.encoder_loads += 1
        hidden = self._encoder(texts).float().cpu()  # [M, L, D]
        if self.offload:  # drop the only reference: the encoder's weights are freed before training starts
            self._encoder = None
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        return hidden

    def _fill(self, texts: list[str]) -> None:
        missing = []
        for text in texts:
            if text in self._memo:
                continue
            stored = self._read(text)
            if stored is None:
                missing.append(text)
            else:
                self._memo[text] = stored
                self.loaded += 1
        if not missing:
            return
        for text, row in zip(missing, self._encode(missing), strict=True):
            self._memo[text] = row[:prompt_length(row)].clone()
            self._write(text, self._memo[text])
        self.computed += len(missing)

    def __call__(self, prompts: list[str], device: torch.device | None = None) -> torch.Tensor:
        self._fill(list(dict.fromkeys(prompts)))
        dim = next(iter(self._memo.values())).shape[-1]
        out = torch.zeros(len(prompts), self.max_tokens, dim)
        for i, prompt in enumerate(prompts):
            emb = self._memo[prompt]
            out[i, : emb.shape[0]] = emb
        return out.to(device) if device is not None else out
