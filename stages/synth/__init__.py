"""Synthetic physics world: procedural scenes with exact ground truth, rendered to H.264 clips."""

from physflow.stages.synth.config import SynthConfig
from physflow.stages.synth.scenes import SCENE_KINDS, Scene, SceneObject, simulate
from physflow.stages.synth.stage import SynthItem, SynthStage, SynthTruthStage, object_rows, scene_of

__all__ = [
    "SCENE_KINDS", "Scene", "SceneObject", "SynthConfig", "SynthItem", "SynthStage", "SynthTruthStage",
    "object_rows", "scene_of", "simulate",
]
