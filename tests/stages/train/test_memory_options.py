"""Memory options of training on real sizes, on the tiny pipeline folders (the same classes as the real bases):
VAE slicing gives the same latents and videos, VAE tiling is the diffusers VAE's own (refused for SVD's VAE,
naming the field), the text encoder is freed after it embedded the missing captions, and gradient checkpointing
and bf16 train through the loop's config fields."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

from physflow.models.codec import FrameVaeCodec, VaeCodec
from physflow.models.text_store import EmbeddingStore
from physflow.models.wan_base import UMT5Prompts, wan_prompt_encoder
from physflow.stages.train.data import DataConfig
from physflow.stages.train.recipes import VideoJAMConfig, build_recipe
from tests.fixtures.bases import svd_folder, wan_folder  # noqa: F401  (fixtures)

pytestmark = pytest.mark.timeout(300)

# Slicing runs the same float32 modules on one video instead of the batch; only the order of float operations in
# batched kernels can differ (measured: 0 to ~1e-7 on these VAEs). A real difference (frames of one video mixed
# with another's, a wrong split) moves outputs by >1e-2.
SLICING_ATOL = 1e-5


def _video(b: int, f: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, f, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _roundtrip(codec, video: torch.Tensor, slicing: bool) -> tuple[torch.Tensor, torch.Tensor]:
    codec.set_memory(slicing=slicing, tiling=False)
    with torch.no_grad():
        z = codec.encode(video)
        return z, codec.decode(z)


@pytest.mark.parametrize("base", ["wan", "svd"])
def test_vae_slicing_gives_the_same_latents_and_videos(base, request):
    folder = request.getfixturevalue(f"{base}_folder")
    codec = VaeCodec.from_folder(folder) if base == "wan" else FrameVaeCodec.from_folder(folder)
    video = _video(3, 5 if base == "wan" else 4, 16)
    z_off, x_off = _roundtrip(codec, video, slicing=False)
    z_on, x_on = _roundtrip(codec, video, slicing=True)
    if base == "wan":
        assert codec.vae.use_slicing  # the diffusers VAE's own option
    diff_z, diff_x = float((z_on - z_off).abs().max()), float((x_on - x_off).abs().max())
    print(f"{base} VAE slicing on vs off, batch 3: max abs diff latents {diff_z:.2e}, videos {diff_x:.2e}")
    assert z_on.shape == z_off.shape and x_on.shape == x_off.shape
    assert diff_z <= SLICING_ATOL and diff_x <= SLICING_ATOL


def test_vae_tiling_uses_the_wan_vae_tiles_and_the_svd_vae_refuses_it(wan_folder, svd_folder):  # noqa: F811
    wan = VaeCodec.from_folder(wan_folder)
    wan.set_memory(slicing=False, tiling=True)
    assert wan.vae.use_tiling
    wan.vae.enable_tiling(32, 32, 16, 16)  # tiles smaller than the test video, so tiling really splits it
    video = _video(1, 5, 48)
    with torch.no_grad():
        tiled = wan.decode(wan.encode(video))
        wan.set_memory(slicing=False, tiling=False)
        plain = wan.decode(wan.encode(video))
    print(f"wan VAE tiling (32 px tiles, stride 16) vs none at 48 px: max abs diff {float((tiled - plain).abs().max()):.2e}")
    assert tiled.shape == plain.shape and torch.isfinite(tiled).all()
    with pytest.raises(ValueError, match="vae_tiling: AutoencoderKLTemporalDecoder"):
        FrameVaeCodec.from_folder(svd_folder).set_memory(slicing=True, tiling=True)


def test_an_offloaded_text_encoder_is_freed_after_filling_the_missing_prompts(wan_folder):  # noqa: F811
    alive: list[weakref.ref] = []

    def load() -> UMT5Prompts:
        prompts = UMT5Prompts.from_folder(wan_folder)
        alive.append(weakref.ref(prompts.encoder))
        return prompts

    direct = UMT5Prompts.from_folder(wan_folder)(["a ball falls", "", "a cup tips over"])
    for offload in (True, False):
        alive.clear()
        store = wan_prompt_encoder(wan_folder, EmbeddingStore(offload=offload))
        store.load_encoder = load
        first = store(["a ball falls", ""])
        gc.collect()
        assert (alive[0]() is None) == offload  # offloaded: the encoder's weights were released
        second = store(["a cup tips over", "a ball falls"])
        assert store.encoder_loads == (2 if offload else 1) and store.computed == 3
        assert torch.equal(first, direct[[0, 1]]) and torch.equal(second, direct[[2, 0]])


def _recipe_grads(wan_folder, checkpointing: bool) -> tuple[float, dict[str, torch.Tensor]]:  # noqa: F811
    recipe = build_recipe(VideoJAMConfig(base="video-base", use_flow=False), DataConfig(frames=5, size=16),
                          wan_folder, seed=0, text_store=EmbeddingStore())
    recipe.train()
    if checkpointing:
        recipe.enable_gradient_checkpointing()
        assert recipe.model.dit.gradient_checkpointing and not getattr(recipe.codec.vae, "gradient_checkpointing", False)
    batch = {"video": _video(2, 5, 16), "prompt": ["a ball falls", "a cup tips over"]}
    torch.manual_seed(0)
    loss, _ = recipe.loss(batch)
    loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in recipe.named_parameters() if p.grad is not None}


def test_gradient_checkpointing_on_the_wan_transformer_gives_the_same_loss_and_gradients(wan_folder):  # noqa: F811
    loss_off, grads_off = _recipe_grads(wan_folder, checkpointing=False)
    loss_on, grads_on = _recipe_grads(wan_folder, checkpointing=True)
    diff = max(float((grads_on[n] - grads_off[n]).abs().max()) for n in grads_off)
    print(f"gradient checkpointing: loss {loss_on:.6f} vs {loss_off:.6f}, max abs grad diff {diff:.2e}")
    assert grads_on.keys() == grads_off.keys() and loss_on == pytest.approx(loss_off, abs=1e-6) and diff <= 1e-5


def test_a_run_with_every_memory_option_trains_and_registers_its_prompt_embeddings(tmp_path, wan_folder,  # noqa: F811
                                                                                     svd_folder):  # noqa: F811
    from physflow.data_catalog.blobs import BlobStore
    from physflow.flows.train import train_and_register
    from physflow.stages.train import TrainConfig, TrainInputs, TrainStage
    from physflow.stages.train.data import load_snapshot
    from physflow.stages.train.recipes import RevisionConfig
    from tests.fixtures.train_world import build_train_world

    world = build_train_world(tmp_path / "world", n_clips=2, frames=8, size=16)
    config = TrainConfig.model_validate({
        "recipe": {"recipe": "videojam", "base": "video-base", "use_flow": False}, "data": {"frames": 5, "size": 16},
        "loop": {"steps": 2, "batch_size": 2, "save_every": 2, "mixed_precision": "bf16",
                 "gradient_checkpointing": True, "vae_slicing": True, "text_encoder_offload": True},
        "run_id": "memory", "base_folder": str(wan_folder)})
    stage, ids = train_and_register(world, config, load_snapshot(world, config.data))
    assert len(ids) == 1 and all(torch.isfinite(torch.tensor(stage.result.losses)))
    rows = world.query("SELECT * FROM text_embeddings ORDER BY text").to_pylist()
    assert len(rows) == stage.result.metrics["text_encoded"] == 3 and rows[0]["text"] == ""  # 2 captions + ""
    blobs = BlobStore(world.root)
    for row in rows:
        assert blobs.problem(row["uri"], deep=True) is None and row["uri"].endswith(f"{row['sha256']}.safetensors")
        assert row["dtype"] == "float32" and len(row["shape"]) == 2 and row["shape"][1] == 32
    svd = config.model_copy(update={"recipe": RevisionConfig(base="video-base"), "base_folder": str(svd_folder),
                                    "loop": config.loop.model_copy(update={"vae_tiling": True}), "run_id": "tiled"})
    refused = TrainStage(svd)
    with pytest.raises(RuntimeError, match="vae_tiling: AutoencoderKLTemporalDecoder"):
        refused.run(TrainInputs(load_snapshot(world, svd.data), tmp_path / "runs"))
    assert refused.result is None and not (tmp_path / "runs" / "tiled").exists()  # no step was run


def test_a_damaged_embedding_blob_is_encoded_again(tmp_path, wan_folder):  # noqa: F811
    first = wan_prompt_encoder(wan_folder, EmbeddingStore(str(tmp_path)))
    expected = first(["a ball falls", "a cup tips over"])
    known = {r["text_sha256"]: r["uri"] for r in first.rows}
    damaged = tmp_path / first.rows[0]["uri"]
    damaged.write_bytes(damaged.read_bytes()[:-8] + b"\0" * 8)
    again = wan_prompt_encoder(wan_folder, EmbeddingStore(str(tmp_path), known))
    assert torch.equal(again(["a ball falls", "a cup tips over"]), expected)
    assert (again.computed, again.loaded) == (1, 1) and again.rows[0]["text"] == first.rows[0]["text"]
