"""Training recipes: one typed config and one torch module (model + loss + sampler) per method."""

from physflow.stages.train.recipes.base import Recipe, build_recipe
from physflow.stages.train.recipes.config import (
    RECIPES,
    DiffPhyConfig,
    RecipeConfig,
    RevisionConfig,
    VideoJAMConfig,
    WisaConfig,
)

__all__ = ["RECIPES", "DiffPhyConfig", "Recipe", "RecipeConfig", "RevisionConfig", "VideoJAMConfig", "WisaConfig",
           "build_recipe"]
