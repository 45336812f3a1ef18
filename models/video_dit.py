"""The video DiT (diffusers' WanTransformer3DModel) and its VideoJAM extension.

VideoJAM adds a motion (optical-flow) latent to the DiT's input and output: the patch embedding gains
zero-initialised input channels for the flow latent, and the output projection gains zero-initialised
rows that predict the flow velocity. At step 0 the extended model's appearance output equals the
original model's output whatever the flow input is (tests/models/test_video_dit.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import WanTransformer3DModel
from torch import nn


@dataclass(frozen=True)
class TinyDiTSize:
    """Constructor arguments of a tiny Wan DiT for CPU runs."""

    heads: int = 2
    head_dim: int = 16
    layers: int = 2
    ffn_dim: int = 64
    text_dim: int = 32
    freq_dim: int = 32


def build_tiny_dit(latent_channels: int, size: TinyDiTSize, seed: int = 0) -> WanTransformer3DModel:
    """A randomly initialised Wan DiT at tiny size (patch 1x2x2)."""
    torch.manual_seed(seed)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=size.heads, attention_head_dim=size.head_dim,
        in_channels=latent_channels, out_channels=latent_channels, text_dim=size.text_dim, freq_dim=size.freq_dim,
        ffn_dim=size.ffn_dim, num_layers=size.layers, rope_max_seq_len=64,
    )


def load_dit(folder: Path) -> WanTransformer3DModel:
    """A pretrained Wan DiT from a local diffusers folder (subfolder `transformer`); never a hub name."""
    return WanTransformer3DModel.from_pretrained(str(folder / "transformer"), local_files_only=True)


def extend_for_flow(dit: WanTransformer3DModel, flow_channels: int) -> WanTransformer3DModel:
    """Add zero-initialised flow channels to the patch embedding input and to the output projection, in place."""
    c_in, c_out = dit.config.in_channels, dit.config.out_channels
    old_in: nn.Conv3d = dit.patch_embedding
    new_in = nn.Conv3d(c_in + flow_channels, old_in.out_channels, old_in.kernel_size, old_in.stride)
    with torch.no_grad():
        new_in.weight.zero_()
        new_in.weight[:, :c_in] = old_in.weight  # [inner, C_in + C_f, p_t, p_h, p_w]
        new_in.bias.copy_(old_in.bias)
    old_out: nn.Linear = dit.proj_out
    patch = math.prod(dit.config.patch_size)
    new_out = nn.Linear(old_out.in_features, (c_out + flow_channels) * patch)
    with torch.no_grad():
        # Wan unpatchifies the projection as [..., p_t, p_h, p_w, C]: channels are innermost per patch cell.
        w_new = torch.zeros(patch, c_out + flow_channels, old_out.in_features)
        b_new = torch.zeros(patch, c_out + flow_channels)
        w_new[:, :c_out] = old_out.weight.view(patch, c_out, -1)
        b_new[:, :c_out] = old_out.bias.view(patch, c_out)
        new_out.weight.copy_(w_new.reshape(-1, old_out.in_features))
        new_out.bias.copy_(b_new.reshape(-1))
    dit.patch_embedding, dit.proj_out = new_in.to(old_in.weight), new_out.to(old_out.weight)
    dit.register_to_config(in_channels=c_in + flow_channels, out_channels=c_out + flow_channels)
    return dit


class JointDiT(nn.Module):
    """A Wan DiT over [appearance latent, flow latent]; `flow_channels = 0` is the plain DiT.

    forward(x [B, C, F, H, W], d [B, C_f, F, H, W] or None, t [B] in [0, 1], text [B, T, D], extra [B, K, D] or None)
    returns (u_x [B, C, F, H, W], u_d [B, C_f, F, H, W] or None). A None flow input is the VideoJAM "no flow"
    condition (zeros).
    """

    def __init__(self, dit: WanTransformer3DModel, appearance_channels: int, flow_channels: int):
        super().__init__()
        self.dit = dit
        self.appearance_channels = appearance_channels
        self.flow_channels = flow_channels

    def forward(
        self,
        x: torch.Tensor,
        d: torch.Tensor | None,
        t: torch.Tensor,
        text: torch.Tensor,
        extra_tokens: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.flow_channels:
            d_in = torch.zeros(x.shape[0], self.flow_channels, *x.shape[2:], dtype=x.dtype, device=x.device) if d is None else d
            x = torch.cat([x, d_in], dim=1)  # [B, C + C_f, F, H, W]
        context = text if extra_tokens is None else torch.cat([text, extra_tokens], dim=1)  # [B, T (+K), D]
        out = self.dit(x, timestep=t * 1000.0, encoder_hidden_states=context, return_dict=False)[0]
        u_x = out[:, : self.appearance_channels]
        u_d = out[:, self.appearance_channels :] if self.flow_channels else None
        return u_x, u_d
