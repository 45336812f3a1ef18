"""The `local` backend: a GGUF model through llama-cpp-python, loaded once, grammar-constrained to the schema.

The model file comes from the weights registry (name "llm") through the flow, which puts its path in
the config; the file's sha256 is part of every cache key. llama.cpp contexts are not thread-safe, so
calls are serialised.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from physflow.stages.physics_context.config import PhysicsContextConfig
from physflow.stages.physics_context.reasoner import ChatReasoner, ServiceError
from physflow.stages.physics_context.schema import answer_json_schema

INSTALL_HINT = "pip install 'physflow[llm]' (llama-cpp-python)"


class LocalReasoner(ChatReasoner):
    backend = "local"
    max_parallel = 1

    def __init__(self, config: PhysicsContextConfig):
        super().__init__(config)
        self.model = f"gguf:{Path(config.model_path).name}" if config.model_path else "gguf"
        self._llm: Any = None
        self._grammar: Any = None
        self._lock = threading.Lock()

    def check(self) -> None:
        """Import llama_cpp and load the GGUF file once; fails naming what is missing."""
        if self._llm is not None:
            return
        if not self.config.model_path:
            raise ServiceError("local backend: no GGUF model_path; configure weights 'llm' in physflow.toml or "
                               "$PHYSFLOW_WEIGHTS_DIR/llm.gguf")
        try:
            import llama_cpp
            from llama_cpp.llama_grammar import LlamaGrammar
        except ImportError as exc:
            raise ServiceError(f"local backend needs llama-cpp-python: {INSTALL_HINT}") from exc
        try:
            self._llm = llama_cpp.Llama(model_path=self.config.model_path, n_ctx=self.config.n_ctx,
                                        n_threads=self.config.n_threads, seed=self.config.seed, verbose=False)
        except (ValueError, RuntimeError) as exc:
            raise ServiceError(f"local backend: cannot load GGUF {self.config.model_path}: {exc}") from exc
        self._grammar = LlamaGrammar.from_json_schema(json.dumps(answer_json_schema()), verbose=False)

    def complete(self, turns: list[dict[str, str]], seed: int) -> str:
        self.check()
        with self._lock:
            out = self._llm.create_chat_completion(
                messages=turns, grammar=self._grammar, temperature=self.config.temperature,
                max_tokens=self.config.max_tokens, seed=seed,
            )
        return str(out["choices"][0]["message"]["content"] or "")
