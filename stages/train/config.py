"""The training stage's config: one recipe (selected by its `recipe` field), the data and loop settings, and the
base folder the flow resolved from the weights registry."""

from __future__ import annotations

from pydantic import Field, model_validator

from physflow.stages.base import StageConfig
from physflow.stages.train.data.snapshot import DataConfig
from physflow.stages.train.loop.config import LoopConfig
from physflow.stages.train.recipes.config import RecipeConfig, VideoJAMConfig


class TrainConfig(StageConfig):
    recipe: RecipeConfig = Field(default_factory=VideoJAMConfig, description="revision | videojam | wisa | diffphy.")
    data: DataConfig = Field(default_factory=DataConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    run_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$",
                               description="Run folder name; default derived from the settings and data snapshot.")
    base_folder: str | None = Field(None, min_length=1, description="Local diffusers pipeline folder of the recipe's "
                                    "`video-base` (resolved by the flow from the weights registry); None for 'tiny'.")

    @model_validator(mode="after")
    def _base_given_when_needed(self) -> TrainConfig:
        if self.recipe.base == "video-base" and self.base_folder is None:
            raise ValueError("recipe.base = 'video-base' needs base_folder (the registry's video-base folder)")
        if self.recipe.base == "tiny" and self.base_folder is not None:
            raise ValueError(f"recipe.base = 'tiny' builds its model in code; base_folder {self.base_folder!r} is unused")
        return self

    def with_data_needs(self) -> TrainConfig:
        """The data settings the recipe needs: VideoJAM with flow trains only on clips that have flow."""
        if self.recipe.recipe == "videojam" and self.recipe.use_flow and not self.data.require_flow:
            return self.model_copy(update={"data": self.data.model_copy(update={"require_flow": True})})
        return self
