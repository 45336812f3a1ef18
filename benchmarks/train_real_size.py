"""Train-step speed and peak memory of the real-size denoisers with random weights (no download): the Wan 2.1
T2V-1.3B transformer and the SVD-XT UNet, each with its recipe's objective (Wan: flow matching with the
scheduler's shift; SVD: EDM v-prediction), AdamW, gradient checkpointing, bf16 autocast on a GPU.

    .venv/bin/python benchmarks/train_real_size.py --size wan-1.3b --frames 33 --height 480 --width 832
    .venv/bin/python benchmarks/train_real_size.py --size svd-xt --frames 25 --height 576 --width 1024
    .venv/bin/python benchmarks/train_real_size.py --size wan-1.3b --layers 2 --frames 5 --height 64 --width 64  # CPU

Only the denoiser runs: latents, UMT5 hidden states and CLIP image embeddings are random tensors of the shapes the
VAE and encoders produce (their cost is once per clip: prompt embeddings are stored, latents can be cached).
`--layers` builds fewer blocks at the real width (CPU); on a GPU leave it unset for the real depth.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physflow.models.svd_base import edm_scalings, sample_sigmas
from physflow.models.wan_base import shifted_sigmas

WAN_SHIFT = 3.0  # Wan 2.1's FlowMatchEulerDiscreteScheduler shift at 480p


def wan_13b(layers: int | None) -> torch.nn.Module:
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel(  # Wan2.1-T2V-1.3B's transformer config
        patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
        text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=layers or 30, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", eps=1e-6)


def svd_xt(layers: int | None, narrow: int = 1) -> torch.nn.Module:
    from diffusers import UNetSpatioTemporalConditionModel

    # The class defaults are SVD's UNet; SVD-XT differs only in num_frames (25). --layers sets layers_per_block,
    # --narrow divides the block widths (CPU only; heads keep SVD's counts).
    widths = tuple(c // narrow for c in (320, 640, 1280, 1280))
    return UNetSpatioTemporalConditionModel(num_frames=25, layers_per_block=layers or 2, block_out_channels=widths)


def wan_step(model: torch.nn.Module, shape: tuple[int, int, int, int], device: str) -> torch.Tensor:
    b, f, h, w = shape  # batch, frames, pixels
    x0 = torch.randn(b, 16, (f - 1) // 4 + 1, h // 8, w // 8, device=device)  # Wan VAE: 4x time, 8x space
    text = torch.randn(b, 512, 4096, device=device)
    t = shifted_sigmas(torch.sigmoid(torch.randn(b, device=device)), WAN_SHIFT)
    noise = torch.randn_like(x0)
    tb = t.view(-1, 1, 1, 1, 1)
    u = model(hidden_states=(1 - tb) * x0 + tb * noise, timestep=t * 1000, encoder_hidden_states=text,
              return_dict=False)[0]
    return torch.nn.functional.mse_loss(u.float(), (noise - x0).float())


def svd_step(model: torch.nn.Module, shape: tuple[int, int, int, int], device: str) -> torch.Tensor:
    b, f, h, w = shape  # batch, frames, pixels
    x0 = torch.randn(b, f, 4, h // 8, w // 8, device=device)
    first = torch.randn(b, 1, 4, h // 8, w // 8, device=device).expand(-1, f, -1, -1, -1)
    clip = torch.randn(b, 1, 1024, device=device)
    ids = torch.tensor([[6.0, 127.0, 0.02]], device=device).expand(b, -1)
    sigma = sample_sigmas(b, device).view(-1, 1, 1, 1, 1)
    c_skip, c_out, c_in, c_noise = edm_scalings(sigma)
    x = x0 + sigma * torch.randn_like(x0)
    pred = model(torch.cat([c_in * x, first], dim=2), c_noise.flatten(), encoder_hidden_states=clip,
                 added_time_ids=ids, return_dict=False)[0]
    return torch.nn.functional.mse_loss(pred.float(), ((x0 - c_skip * x) / c_out).float())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=["wan-1.3b", "svd-xt"], required=True)
    ap.add_argument("--layers", type=int, default=None, help="Fewer blocks (CPU); default: the real depth.")
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=832)
    ap.add_argument("--narrow", type=int, default=1, help="svd-xt: divide the UNet widths by this (CPU).")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = (wan_13b(args.layers) if args.size == "wan-1.3b" else svd_xt(args.layers, args.narrow)).to(device).train()
    model.enable_gradient_checkpointing()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    step = wan_step if args.size == "wan-1.3b" else svd_step
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    times = []
    for i in range(args.steps + 1):  # the first step (allocation, kernel choice) is not timed
        start = time.perf_counter()
        with torch.autocast(device, dtype=dtype, enabled=device == "cuda"):
            loss = step(model, (args.batch, args.frames, args.height, args.width), device)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() / 2**30 if device == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    mean = sum(times) / len(times)
    print(f"{args.size} ({params / 1e9:.3f} B params, {args.layers or 'all'} layers, widths / {args.narrow}) on {device} "
          f"{'bf16' if device == 'cuda' else 'fp32'}, grad checkpointing, batch {args.batch} x {args.frames} frames x "
          f"{args.height}x{args.width}: {1 / mean:.3f} steps/s ({mean:.2f} s/step over {len(times)} steps), "
          f"peak {'GPU' if device == 'cuda' else 'RSS'} {peak:.2f} GiB, last loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
