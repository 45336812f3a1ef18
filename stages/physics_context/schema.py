"""The physics context of one text: the validated answer every reasoner returns (DiffPhy + WISA).

The field order is the reasoning order (principles -> initiators -> affected -> interactions -> laws ->
phenomena -> enhanced prompt -> categories -> quantities -> motion relevance); a grammar-constrained
LLM fills the fields in this order, so it reasons before it summarises. Every list and string is
bounded, so a weak or hijacked model cannot produce unbounded output.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Category = Literal[
    "collision", "rigid_body_motion", "elastic_motion", "liquid_motion", "gas_motion", "deformation",
    "melting", "solidification", "vaporization", "liquefaction", "explosion", "combustion",
    "reflection", "refraction", "scattering", "interference_diffraction", "unnatural_light_source",
]
CATEGORIES: tuple[str, ...] = get_args(Category)
DOMAINS: dict[str, tuple[str, ...]] = {
    "dynamics": CATEGORIES[:6],
    "thermodynamics": CATEGORIES[6:12],
    "optics": CATEGORIES[12:],
}

# WISA's 17 categories plus the laws they miss (stages/physics_context/data/laws.toml describes each).
LawName = Literal[
    "collision", "rigid_body_motion", "elastic_motion", "liquid_motion", "gas_motion", "deformation",
    "melting", "solidification", "vaporization", "liquefaction", "explosion", "combustion",
    "reflection", "refraction", "scattering", "interference_diffraction", "unnatural_light_source",
    "inertia", "friction", "buoyancy", "pressure", "fracture", "dissolution", "magnetism", "absorption",
    "sublimation", "thermal_expansion", "heat_conduction", "chemical_colour_change", "gas_evolution",
    "oxidation", "precipitation", "shadow", "dispersion", "colour_mixing",
]
LAWS: tuple[str, ...] = get_args(LawName)

Term = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Quantities(BaseModel):
    """WISA's quantitative properties of the main affected entity and the phenomenon."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    density_kg_m3: float | None = Field(None, ge=0.0, le=25_000.0, description="Density of the main entity, kg/m^3.")
    temperature_c: float | None = Field(None, ge=-273.15, le=6_000.0, description="Temperature of the scene, deg C.")
    duration_s: float | None = Field(None, ge=0.0, le=3_600.0, description="Time the phenomenon takes, seconds.")


class PhysicsContext(BaseModel):
    """One text's physics: DiffPhy's properties, enhanced prompt and checklist, WISA's labels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    principles: list[Term] = Field(default_factory=list, max_length=8, description="Physical principles at work.")
    initiators: list[Term] = Field(default_factory=list, max_length=6, description="Entities that apply forces or energy.")
    affected: list[Term] = Field(default_factory=list, max_length=6, description="Entities acted upon.")
    interactions: list[Line] = Field(default_factory=list, max_length=6, description="Who does what to whom.")
    laws: list[LawName] = Field(default_factory=list, max_length=4,
                                description="Laws that decide what happens next, the deciding one first.")
    phenomena: list[Line] = Field(default_factory=list, max_length=8, description="Checklist of expected phenomena.")
    enhanced_prompt: str = Field(..., min_length=1, max_length=1200, description="Vivid, physically explicit prompt.")
    categories: list[Category] = Field(default_factory=list, max_length=8, description="WISA phenomenon categories.")
    quantities: Quantities = Field(default_factory=Quantities)
    motion_relevance: float = Field(..., ge=0.0, le=1.0, description="How much visible physical motion, 0..1.")

    @field_validator("categories", "laws")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))  # a set written as a list: order kept, repeats dropped

    def properties_json(self) -> str:
        return json.dumps({k: getattr(self, k) for k in ("principles", "initiators", "affected", "interactions")},
                          ensure_ascii=False)


# String lengths are left out of the answer schema: llama.cpp turns a bounded string into nested optional
# rules that make sampling thousands of times slower (and fail to parse past ~1000 characters). Lengths are
# still enforced when the answer is validated, and max_tokens bounds what a model can write.
_GRAMMAR_DROPS = ("title", "default", "maxLength", "minLength")


def answer_json_schema() -> dict[str, Any]:
    """The JSON schema an LLM must answer in, with every `$ref` inlined (some grammar compilers lack refs)."""
    schema = PhysicsContext.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items() if k not in _GRAMMAR_DROPS}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    out = inline(schema)
    out["required"] = list(PhysicsContext.model_fields)  # the model answers every field
    out["additionalProperties"] = False
    out["properties"]["quantities"]["required"] = list(Quantities.model_fields)
    out["properties"]["quantities"]["additionalProperties"] = False
    return out
