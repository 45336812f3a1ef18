"""A Wan 2.1 text-to-video pipeline folder as a training and sampling base, in Wan's own parametrisation.

A base is a diffusers `WanPipeline` folder (model_index.json; tokenizer, UMT5 text encoder, transformer, VAE,
scheduler). Wan is rectified flow: x_sigma = (1 - sigma) x_0 + sigma * noise, the transformer predicts the
velocity noise - x_0 at timestep sigma * 1000, sigmas follow FlowMatchEulerDiscreteScheduler with its `shift`
(sigma' = shift sigma / (1 + (shift - 1) sigma)), and the latent the transformer sees is the VAE's latent
normalised per channel: (z - latents_mean) / latents_std. Prompts are UMT5 hidden states, zero past each
prompt's length, padded to `max_sequence_length` tokens.

`build_tiny_wan_pipeline` saves the CPU default: the same classes at tiny size with random weights and a
byte-level tokenizer (ByT5: no vocabulary file), so tests take the code path of a real Wan folder.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from physflow.models.text_store import EmbeddingStore

WAN_TEXT_TOKENS = 512  # WanPipeline's default max_sequence_length


def build_tiny_wan_pipeline(folder: Path, seed: int = 0, shift: float = 3.0) -> Path:
    """Save a tiny random WanPipeline (16-channel VAE with Wan's latent statistics, 2-block DiT, 2-layer UMT5)."""
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
    from transformers import ByT5Tokenizer, UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    tokenizer = ByT5Tokenizer()
    text_encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1))
    vae = AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=32, ffn_dim=64, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder.eval(), vae=vae.eval(),
                       transformer=transformer.eval(), scheduler=scheduler)
    pipe.save_pretrained(str(folder))
    return folder


def clean_prompt(text: str) -> str:
    """Wan's prompt cleaning: HTML entities unescaped twice, whitespace collapsed (ftfy is not applied)."""
    return re.sub(r"\s+", " ", html.unescape(html.unescape(text)).strip()).strip()


class UMT5Prompts:
    """A frozen UMT5 encoder and its tokenizer: prompts -> [B, max_tokens, D], zero past each prompt's tokens.

    Kept outside the trained module's state (a plain attribute, not a submodule), so checkpoints never hold the
    text encoder; it runs on the device of the tensors it is asked for."""

    def __init__(self, tokenizer: object, encoder: nn.Module, max_tokens: int = WAN_TEXT_TOKENS):
        self.tokenizer, self.encoder, self.max_tokens = tokenizer, encoder.requires_grad_(False).eval(), max_tokens

    @classmethod
    def from_folder(cls, folder: Path, max_tokens: int = WAN_TEXT_TOKENS, device: str | None = None) -> UMT5Prompts:
        from transformers import AutoTokenizer, UMT5EncoderModel

        tokenizer = AutoTokenizer.from_pretrained(str(folder / "tokenizer"), local_files_only=True)
        encoder = UMT5EncoderModel.from_pretrained(str(folder / "text_encoder"), local_files_only=True)
        return cls(tokenizer, encoder if device is None else encoder.to(device), max_tokens)

    @torch.no_grad()
    def __call__(self, prompts: list[str], device: torch.device | None = None) -> torch.Tensor:
        tokens = self.tokenizer([clean_prompt(p) for p in prompts], padding="max_length", max_length=self.max_tokens,
                                truncation=True, add_special_tokens=True, return_attention_mask=True,
                                return_tensors="pt")
        ids, mask = tokens.input_ids, tokens.attention_mask  # [B, L]
        enc_device = next(self.encoder.parameters()).device
        hidden = self.encoder(ids.to(enc_device), mask.to(enc_device)).last_hidden_state  # [B, L, D]
        hidden = hidden * mask.to(hidden.device).unsqueeze(-1).to(hidden.dtype)  # zero past each prompt's length
        return hidden.to(device) if device is not None else hidden


class WanLatentNorm(nn.Module):
    """Wan's per-channel latent normalisation: model latent = (z - mean) / std, and back."""

    def __init__(self, mean: list[float], std: list[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1, 1), persistent=False)

    def normalise(self, z: torch.Tensor) -> torch.Tensor:
        return (z - self.mean.to(z)) / self.std.to(z)

    def denormalise(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std.to(z) + self.mean.to(z)


def shifted_sigmas(u: torch.Tensor, shift: float) -> torch.Tensor:
    """The scheduler's time shift applied to sigmas u in [0, 1]."""
    return shift * u / (1 + (shift - 1) * u)


def scheduler_sigmas(folder: Path, steps: int) -> torch.Tensor:
    """The sampling sigmas [steps + 1] (ending at 0) of the folder's FlowMatchEulerDiscreteScheduler."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(str(folder / "scheduler"), local_files_only=True)
    scheduler.set_timesteps(steps)
    return scheduler.sigmas.float().cpu()


def scheduler_shift(folder: Path) -> float:
    from diffusers import FlowMatchEulerDiscreteScheduler

    return float(FlowMatchEulerDiscreteScheduler.load_config(str(folder / "scheduler"), local_files_only=True)
                 .get("shift", 1.0))


def wan_prompt_encoder(folder: Path, store: EmbeddingStore | None = None, *, max_tokens: int = WAN_TEXT_TOKENS,
                       device: str | None = None) -> object:
    """The prompt embedder of a Wan folder: UMT5 resident (no store), or embeddings read from the store with
    UMT5 loaded (on `device`) only for texts not stored yet, and freed after each use when the store offloads."""
    if store is None:
        return UMT5Prompts.from_folder(folder, max_tokens, device)
    from physflow.models.text_store import StoredPromptEmbeddings, encoder_sha256

    return StoredPromptEmbeddings(encoder_sha256(folder), lambda: UMT5Prompts.from_folder(folder, max_tokens, device),
                                  max_tokens, store)
