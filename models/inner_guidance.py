"""VideoJAM Inner-Guidance sampling for a JointDiT trained with flow matching (used by the generate flow).

Velocity convention: x_t = (1 - t) x_0 + t * noise, u = noise - x_0, sampled by Euler steps from t = 1 to 0.
Inner-Guidance combines three predictions of the joint model:

    u = (1 + w1 + w2) u([x, d], y) - w1 u([x, d], none) - w2 u([x, none], y)

The same combination is applied to the flow velocity except its w2 term: with no flow input, the model's
flow output is not an estimate of this d, so d is guided by text alone (1 + w1) u_d([x,d],y) - w1 u_d([x,d],none).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physflow.models.video_dit import JointDiT


@dataclass(frozen=True)
class InnerGuidance:
    w1: float = 5.0  # text guidance weight
    w2: float = 3.0  # motion (flow) guidance weight


def inner_guidance_velocity(
    model: JointDiT, x: torch.Tensor, d: torch.Tensor | None, t: torch.Tensor, text: torch.Tensor, *,
    null_text: torch.Tensor, guidance: InnerGuidance, extra_tokens: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The guided joint velocity at (x, d, t). A model without flow gets plain text CFG (w2 unused)."""
    w1, w2 = guidance.w1, guidance.w2
    ux_c, ud_c = model(x, d, t, text, extra_tokens)
    ux_u, ud_u = model(x, d, t, null_text, extra_tokens)
    if not model.flow_channels:
        return (1 + w1) * ux_c - w1 * ux_u, None
    ux_nf, _ = model(x, None, t, text, extra_tokens)
    u_x = (1 + w1 + w2) * ux_c - w1 * ux_u - w2 * ux_nf
    assert ud_c is not None and ud_u is not None
    u_d = (1 + w1) * ud_c - w1 * ud_u
    return u_x, u_d


@torch.no_grad()
def sample_inner_guidance(
    model: JointDiT, text: torch.Tensor, null_text: torch.Tensor, shape: tuple[int, int, int, int], *,
    steps: int = 20, guidance: InnerGuidance | None = None, generator: torch.Generator | None = None,
    extra_tokens: torch.Tensor | None = None, sigmas: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sample (x_0, d_0) for a batch; shape = (F, H, W) plus the appearance channel count first: (C, F, H, W).
    `sigmas` [steps + 1], from 1 down to 0, is the schedule (a pretrained base's scheduler: Wan's shifted
    sigmas); default: `steps` uniform steps."""
    guidance = guidance or InnerGuidance()
    batch = text.shape[0]
    device, dtype = text.device, text.dtype
    c, f, h, w = shape
    draw = generator.device if generator is not None else device  # noise on the generator's device (a CPU seed on GPU)
    x = torch.randn(batch, c, f, h, w, generator=generator, device=draw, dtype=dtype).to(device)
    d = (torch.randn(batch, model.flow_channels, f, h, w, generator=generator, device=draw, dtype=dtype).to(device)
         if model.flow_channels else None)
    ts = torch.linspace(1.0, 0.0, steps + 1) if sigmas is None else sigmas
    ts = ts.to(device)
    for i in range(len(ts) - 1):
        t, dt = ts[i].expand(batch), ts[i] - ts[i + 1]
        u_x, u_d = inner_guidance_velocity(model, x, d, t, text, null_text=null_text, guidance=guidance,
                                           extra_tokens=extra_tokens)
        x = x - dt * u_x
        if d is not None and u_d is not None:
            d = d - dt * u_d
    return x, d
