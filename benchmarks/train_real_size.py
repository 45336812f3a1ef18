"""Train-step speed and peak memory of the real-size denoisers with random weights (no download): the Wan 2.1
T2V-1.3B transformer and the SVD-XT UNet, each with its recipe's objective (Wan: flow matching with the
scheduler's shift; SVD: EDM v-prediction) and AdamW, under the training config's memory options.

    .venv/bin/python benchmarks/train_real_size.py --size wan-1.3b --frames 33 --height 480 --width 832
    .venv/bin/python benchmarks/train_real_size.py --size svd-xt --frames 25 --height 576 --width 1024
    .venv/bin/python benchmarks/train_real_size.py --size wan-1.3b --layers 2 --frames 5 --height 64 --width 64  # CPU

Options as in the training config (stages/train/loop/config.py): `--no-checkpointing` (gradient_checkpointing),
`--precision` (mixed_precision; auto = bf16 on a GPU, fp32 on CPU), `--vae` with `--vae-slicing` / `--vae-tiling`
(each step encodes the batch's videos with the base's VAE at its real architecture, through physflow's codec, as
the recipes do), `--text-encoder resident|offload` (a UMT5-XXL-width encoder embeds the prompts before the steps
and is kept, or freed as text_encoder_offload does). Without `--vae` the latents, and without `--text-encoder`
the prompt embeddings, are random tensors of the shapes the VAE and encoders produce.

Memory: on a GPU the peak allocated during the timed steps; on CPU the peak resident set during the timed steps
(sampled every 5 ms) and of the whole process. `--layers` / `--narrow` / `--text-layers` build fewer blocks or
narrower widths (CPU); on a GPU leave them unset for the real sizes.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from physflow.models.codec import FrameVaeCodec, VaeCodec
from physflow.models.svd_base import edm_scalings, sample_sigmas
from physflow.models.wan_base import UMT5Prompts, shifted_sigmas

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


def real_vae(size: str) -> VaeCodec | FrameVaeCodec:
    """The base's VAE at its real architecture, random weights: Wan 2.1's (the class defaults) or SVD's."""
    from diffusers import AutoencoderKLTemporalDecoder, AutoencoderKLWan

    if size == "wan-1.3b":
        return VaeCodec(AutoencoderKLWan())
    return FrameVaeCodec(AutoencoderKLTemporalDecoder(
        block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4))


def umt5_xxl(layers: int, device: str) -> UMT5Prompts:
    """Wan's text encoder width (UMT5-XXL: d_model 4096, 64 heads, d_ff 10240, 256384 tokens) with `layers`
    blocks, bf16 weights, random; a byte-level tokenizer (token ids < 384: the vocabulary does not matter here)."""
    from transformers import ByT5Tokenizer, UMT5Config, UMT5EncoderModel

    config = UMT5Config(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=layers, num_heads=64,
                        feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1)
    return UMT5Prompts(ByT5Tokenizer(), UMT5EncoderModel(config).to(device, torch.bfloat16))


def wan_step(model: torch.nn.Module, x0: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    b = x0.shape[0]
    t = shifted_sigmas(torch.sigmoid(torch.randn(b, device=x0.device)), WAN_SHIFT)
    noise = torch.randn_like(x0)
    tb = t.view(-1, 1, 1, 1, 1)
    u = model(hidden_states=(1 - tb) * x0 + tb * noise, timestep=t * 1000, encoder_hidden_states=text,
              return_dict=False)[0]
    return torch.nn.functional.mse_loss(u.float(), (noise - x0).float())


def svd_step(model: torch.nn.Module, x0: torch.Tensor, clip: torch.Tensor) -> torch.Tensor:
    b, f = x0.shape[:2]  # x0: [B, F, 4, h, w]
    first = x0[:, :1].expand(-1, f, -1, -1, -1)  # stands for the first frame's (unscaled) latent
    ids = torch.tensor([[6.0, 127.0, 0.02]], device=x0.device).expand(b, -1)
    sigma = sample_sigmas(b, x0.device).view(-1, 1, 1, 1, 1)
    c_skip, c_out, c_in, c_noise = edm_scalings(sigma)
    x = x0 + sigma * torch.randn_like(x0)
    pred = model(torch.cat([c_in * x, first], dim=2), c_noise.flatten(), encoder_hidden_states=clip,
                 added_time_ids=ids, return_dict=False)[0]
    return torch.nn.functional.mse_loss(pred.float(), ((x0 - c_skip * x) / c_out).float())


class RssPeak:
    """Peak resident set of this process while active, sampled from /proc every 5 ms (CPU runs)."""

    def __init__(self) -> None:
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with open("/proc/self/statm") as fh:
                self.peak = max(self.peak, int(fh.read().split()[1]) * resource.getpagesize())
            time.sleep(0.005)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def latents(args: argparse.Namespace, codec: VaeCodec | FrameVaeCodec | None, device: str) -> torch.Tensor:
    """One batch of clean latents: the VAE's encoding of a random video, or random latents of its shape."""
    b, f, h, w = args.batch, args.frames, args.height, args.width
    if codec is not None:
        with torch.no_grad():
            z = codec.encode(torch.rand(b, 3, f, h, w, device=device) * 2 - 1)  # [B, C, F', h, w]
        return z if args.size == "wan-1.3b" else z.permute(0, 2, 1, 3, 4)
    if args.size == "wan-1.3b":
        return torch.randn(b, 16, (f - 1) // 4 + 1, h // 8, w // 8, device=device)  # Wan VAE: 4x time, 8x space
    return torch.randn(b, f, 4, h // 8, w // 8, device=device)


def conditioning(args: argparse.Namespace, device: str) -> tuple[torch.Tensor, UMT5Prompts | None]:
    """The denoiser's context ([B, 512, 4096] UMT5 states for Wan, [B, 1, 1024] CLIP embedding for SVD) and the
    text encoder when it stays resident."""
    if args.size == "svd-xt":
        return torch.randn(args.batch, 1, 1024, device=device), None
    if args.text_encoder == "none":
        return torch.randn(args.batch, 512, 4096, device=device), None
    encoder = umt5_xxl(args.text_layers, device)
    text = encoder(["a red ball bounces on a wooden floor"] * args.batch).float()
    if args.text_encoder == "offload":  # what text_encoder_offload does once the missing prompts are embedded
        del encoder
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
        return text, None
    return text, encoder


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=["wan-1.3b", "svd-xt"], required=True)
    ap.add_argument("--layers", type=int, default=None, help="Fewer blocks (CPU); default: the real depth.")
    ap.add_argument("--narrow", type=int, default=1, choices=[1, 2],
                    help="svd-xt: halve the UNet widths (CPU); GroupNorm needs multiples of 32.")
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=832)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpointing", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--precision", choices=["auto", "no", "bf16"], default="auto")
    ap.add_argument("--vae", action="store_true", help="Encode each step's videos with the real-architecture VAE.")
    ap.add_argument("--vae-slicing", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--vae-tiling", action="store_true")
    ap.add_argument("--tile", type=int, default=None, help="VAE tile size in pixels (default: diffusers' 256).")
    ap.add_argument("--text-encoder", choices=["none", "resident", "offload"], default="none")
    ap.add_argument("--text-layers", type=int, default=24, help="UMT5-XXL blocks (24 real; fewer on CPU).")
    return ap.parse_args()


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device == "cuda")
    codec = real_vae(args.size).to(device) if args.vae else None
    if codec is not None:
        codec.set_memory(args.vae_slicing, args.vae_tiling)
        if args.vae_tiling and args.tile:
            codec.vae.enable_tiling(args.tile, args.tile, args.tile * 3 // 4, args.tile * 3 // 4)
    context, encoder = conditioning(args, device)
    model = (wan_13b(args.layers) if args.size == "wan-1.3b" else svd_xt(args.layers, args.narrow)).to(device).train()
    if args.checkpointing:
        model.enable_gradient_checkpointing()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    step = wan_step if args.size == "wan-1.3b" else svd_step
    times, loss = [], torch.zeros(())
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with RssPeak() as rss:
        for i in range(args.steps + 1):  # the first step (allocation, kernel choice) is not timed
            start = time.perf_counter()
            x0 = latents(args, codec, device)
            with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
                loss = step(model, x0, context)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if device == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - start)
    mean = sum(times) / len(times)
    memory = (f"peak GPU {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if device == "cuda" else
              f"peak RSS in steps {rss.peak / 2**30:.2f} GiB, process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    options = (f"{'bf16' if bf16 else 'fp32'}, checkpointing {'on' if args.checkpointing else 'off'}, "
               f"vae {'off' if codec is None else f'slicing {args.vae_slicing} tiling {args.vae_tiling}'}, "
               f"text encoder {args.text_encoder}{'' if encoder is None else ' (resident)'}")
    print(f"{args.size} ({params / 1e9:.3f} B params, {args.layers or 'all'} layers, widths / {args.narrow}) on {device}, "
          f"{options}, batch {args.batch} x {args.frames} frames x {args.height}x{args.width}: {1 / mean:.3f} steps/s "
          f"({mean:.2f} s/step over {len(times)} steps, fastest {min(times):.2f} s), {memory}, last loss {loss.item():.4f}")


if __name__ == "__main__":
    main()
