"""Export a registered checkpoint trained from a pipeline folder as a diffusers folder that the stock pipeline
class (`WanPipeline`, `StableVideoDiffusionPipeline`), or physflow's subclass of it, loads with `from_pretrained`.

- Full fine-tunes (WISA; VideoJAM trained without flow; ReVision trained without mask channels): the base
  pipeline with the trained transformer or UNet. WISA's
  physics tokens and classifier, which the stock pipeline has no input for, go beside it in
  `physflow_extras.safetensors`.
- LoRA runs (DiffPhy): the base pipeline plus `pytorch_lora_weights.safetensors` in the diffusers/peft format
  (`pipe.load_lora_weights(folder)`), or with `merge` the LoRA fused into the transformer weights.
Models with extra inputs export in the same layout under physflow's subclass of the stock pipeline
(models/physflow_pipelines.py), named in model_index.json, with the one-line module diffusers' `custom_pipeline`
loads beside it: ReVision with mask channels as `ReVisionSVDPipeline`, VideoJAM with flow as `VideoJAMWanPipeline`
(`ReVisionSVDPipeline.from_pretrained(folder)`). Checkpoints of the tiny base fail naming why (no pipeline folder
to export into).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from safetensors.torch import save_file

from physflow.data_catalog import Catalog
from physflow.stages.train.checkpoint import load_checkpoint
from physflow.stages.train.config import TrainConfig

LORA_FILE = "pytorch_lora_weights.safetensors"
EXTRAS_FILE = "physflow_extras.safetensors"


def _base_folder(config: TrainConfig, checkpoint_id: str) -> Path:
    if config.base_folder is None:
        raise ValueError(f"checkpoint {checkpoint_id} was trained from the tiny base, which has no diffusers pipeline "
                         "folder; train with recipe.base = 'video-base' to export")
    return Path(config.base_folder)


def _export_revision(recipe: Any, config: TrainConfig, base: Path, out: Path) -> dict[str, Any]:
    """The base SVD pipeline with the trained UNet: stock without mask channels, else ReVisionSVDPipeline."""
    from diffusers import StableVideoDiffusionPipeline

    svd = StableVideoDiffusionPipeline.from_pretrained(str(base), unet=recipe.model.unet, local_files_only=True)
    if not config.recipe.use_masks:
        svd.save_pretrained(str(out))
        return {"folder": str(out), "kind": "full", "pipeline": "StableVideoDiffusionPipeline", "extras": []}
    from physflow.models.physflow_pipelines import ReVisionSVDPipeline, write_module_file

    ReVisionSVDPipeline(**svd.components, max_parts=config.data.max_parts).save_pretrained(str(out))
    write_module_file(out, ReVisionSVDPipeline)
    return {"folder": str(out), "kind": "full", "pipeline": "ReVisionSVDPipeline", "extras": []}


def export_checkpoint(catalog: Catalog, checkpoint_id: str, out: Path, *, merge: bool = False) -> dict[str, Any]:
    """Write the diffusers folder of `checkpoint_id` to `out`; returns what was written."""
    from diffusers import WanPipeline

    recipe, row = load_checkpoint(catalog, checkpoint_id)
    config = TrainConfig.model_validate(json.loads(row["config"]))
    base = _base_folder(config, checkpoint_id)
    if config.recipe.recipe == "revision":
        return _export_revision(recipe, config, base, out)
    dit = recipe.model.dit
    if config.recipe.recipe == "videojam" and recipe.model.flow_channels:
        from physflow.models.physflow_pipelines import VideoJAMWanPipeline, write_module_file

        VideoJAMWanPipeline.from_pretrained(str(base), transformer=dit, local_files_only=True).save_pretrained(str(out))
        write_module_file(out, VideoJAMWanPipeline)
        return {"folder": str(out), "kind": "full", "pipeline": "VideoJAMWanPipeline", "extras": []}
    if config.recipe.recipe != "diffphy":
        pipe = WanPipeline.from_pretrained(str(base), transformer=dit, local_files_only=True)
        pipe.save_pretrained(str(out))
        extras = {f"{name}.{k}": v.contiguous() for name in ("physics", "classifier") if hasattr(recipe, name)
                  for k, v in getattr(recipe, name).state_dict().items()}
        if extras:
            save_file(extras, str(out / EXTRAS_FILE), metadata={"recipe": config.recipe.recipe})
        return {"folder": str(out), "kind": "full", "pipeline": "WanPipeline", "extras": sorted(extras)}
    from peft.utils import get_peft_model_state_dict

    lora = get_peft_model_state_dict(dit)
    if not merge:
        WanPipeline.from_pretrained(str(base), local_files_only=True).save_pretrained(str(out))
        WanPipeline.save_lora_weights(str(out), transformer_lora_layers=lora)
        return {"folder": str(out), "kind": "lora", "pipeline": "WanPipeline", "lora_tensors": len(lora)}
    with tempfile.TemporaryDirectory() as tmp:
        WanPipeline.save_lora_weights(tmp, transformer_lora_layers=lora)
        pipe = WanPipeline.from_pretrained(str(base), local_files_only=True)
        pipe.load_lora_weights(tmp)
        pipe.fuse_lora()
        pipe.unload_lora_weights()
    pipe.save_pretrained(str(out))
    return {"folder": str(out), "kind": "merged", "pipeline": "WanPipeline", "lora_tensors": len(lora)}
