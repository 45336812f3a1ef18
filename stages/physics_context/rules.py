"""The rules reasoner: the embedded default, deterministic and model-free.

It finds lexicon terms in the text, maps them to WISA categories (taxonomy.toml) and principles, picks
initiators and affected entities by their roles, fills DiffPhy-style interaction, phenomena and
enhanced-prompt templates, and derives WISA's quantities from the materials and words present.
"""

from __future__ import annotations

from physflow.stages.physics_context.laws import Prediction, predict
from physflow.stages.physics_context.lexicon import Entity, Lexicon, load_lexicon, ngrams, words
from physflow.stages.physics_context.schema import CATEGORIES, PhysicsContext, Quantities

ROOM_TEMPERATURE_C = 20.0
# Forces or sources implied by a category when the text names none.
IMPLIED_INITIATOR = {
    "collision": "the moving object", "rigid_body_motion": "gravity", "elastic_motion": "gravity",
    "liquid_motion": "gravity", "gas_motion": "air pressure", "deformation": "an applied force",
    "melting": "heat", "solidification": "cold surroundings", "vaporization": "heat",
    "liquefaction": "a cold surface", "explosion": "expanding gas", "combustion": "fire",
    "reflection": "light", "refraction": "light", "scattering": "light", "interference_diffraction": "light",
    "unnatural_light_source": "an artificial light",
}
# Which entity a category's templates talk about: the first present of these roles.
SUBJECT_ROLES = {
    "liquid_motion": ("fluid", "object"), "gas_motion": ("fluid", "object"), "scattering": ("fluid", "light"),
    "unnatural_light_source": ("light",), "vaporization": ("fluid", "object"), "liquefaction": ("object", "fluid"),
    "reflection": ("object", "fluid"), "refraction": ("object", "fluid"), "interference_diffraction": ("fluid", "object"),
}
INITIATOR_ROLES = ("agent", "heat", "light")
BARE_NOUNS = ("gravity", "heat", "light", "fire", "air pressure", "expanding gas", "cold surroundings")


class RulesReasoner:
    """PhysicsReasoner over the embedded lexicon; the same text always gives the same context."""

    backend = "rules"
    max_parallel = 1
    cacheable = False  # recomputing is cheaper than a cache lookup

    def __init__(self, lexicon: Lexicon | None = None):
        self.lexicon = lexicon or load_lexicon()
        self.model = "rules-lexicon"

    def check(self) -> None:
        """Nothing to reach: the lexicon is embedded."""

    def reason(self, text: str, seed: int = 0) -> PhysicsContext:
        tokens = words(text)
        grams = ngrams(tokens)
        entities = self.lexicon.entities(tokens)
        laws = predict(text, self.lexicon.temperatures)
        categories = self._categories(grams, entities)
        if not categories:  # the laws' WISA categories when no category word occurs
            categories = [c for c in CATEGORIES if any(c in p.law.wisa for p in laws)]
        initiators, affected = self._roles(entities, categories)
        return PhysicsContext(
            principles=list(dict.fromkeys([p.law.slug.replace("_", " ") for p in laws]
                                          + self._principles(grams, categories)))[:8],
            initiators=initiators[:6],
            affected=affected[:6],
            interactions=[self._fill(self.lexicon.taxonomy[c]["interaction"], c, initiators, entities)
                          for c in categories][:6],
            laws=[p.law.slug for p in laws],
            phenomena=self._outcomes(laws, categories, initiators, entities)[:8],
            enhanced_prompt=self._enhanced(text, categories, initiators, entities),
            categories=categories[:8],
            quantities=self._quantities(grams, categories, entities, affected),
            motion_relevance=self._motion(grams, categories),
        )

    def _categories(self, grams: set[tuple[str, ...]], entities: list[Entity]) -> list[str]:
        found = set()
        elastic = any(e.elastic for e in entities)
        for rule in self.lexicon.rules:
            if rule.fires(grams):
                found.add(rule.category or ("elastic_motion" if elastic else "deformation"))
        return [c for c in CATEGORIES if c in found]

    def _outcomes(self, laws: list[Prediction], categories: list[str], initiators: list[str],
                  entities: list[Entity]) -> list[str]:
        """The laws' predicted outcomes first, then the categories' phenomena."""
        subject = self._subject(categories[0], entities, initiators) if categories else (
            f"the {entities[0].name}" if entities else "the object")
        predicted = [p.outcome.format(b=subject, verb="sinks or floats", comparison="denser or less dense than")
                     for p in laws]
        predicted = [o[:1].upper() + o[1:] for o in predicted]
        seen = [self._fill(t, c, initiators, entities) for c in categories for t in self.lexicon.taxonomy[c]["phenomena"]]
        return list(dict.fromkeys(predicted + seen))

    def _principles(self, grams: set[tuple[str, ...]], categories: list[str]) -> list[str]:
        out = [p for c in categories for p in self.lexicon.taxonomy[c]["principles"]]
        out += [name for name, terms in self.lexicon.principles.items() if terms.hits(grams)]
        return list(dict.fromkeys(out))

    def _roles(self, entities: list[Entity], categories: list[str]) -> tuple[list[str], list[str]]:
        named = [e.name for e in entities if e.role in INITIATOR_ROLES]
        implied = [IMPLIED_INITIATOR[c] for c in categories]
        if "collision" in categories:  # the first object named is the one that moves into the other
            movers = [e.name for e in entities if e.role == "object"][:1]
            implied = [*movers, *(i for i in implied if i != IMPLIED_INITIATOR["collision"])]
        initiators = list(dict.fromkeys(named + implied))
        affected = [e.name for e in entities if e.role in ("object", "fluid") and e.name not in named]
        return initiators, list(dict.fromkeys(affected))

    def _subject(self, category: str, entities: list[Entity], initiators: list[str]) -> str:
        skip = set(initiators[:1]) if category == "collision" else set()
        for role in SUBJECT_ROLES.get(category, ("object", "fluid")):
            for e in entities:
                if e.role == role and e.name not in skip:
                    return f"the {e.name}"
        return "the scene" if category in ("reflection", "scattering") else "the object"

    def _fill(self, template: str, category: str, initiators: list[str], entities: list[Entity]) -> str:
        b = self._subject(category, entities, initiators)
        named = [i if i.startswith(("the ", "an ", "a ")) or i in BARE_NOUNS else f"the {i}" for i in initiators]
        a = next((i for i in named if i != b), "the force")
        return template.format(a=a, b=b, A=a[:1].upper() + a[1:], B=b[:1].upper() + b[1:])[:200]

    def _enhanced(self, text: str, categories: list[str], initiators: list[str], entities: list[Entity]) -> str:
        base = text.strip().rstrip(".") + "." if text.strip() else "A scene."
        base = base[:1].upper() + base[1:]
        sentences = [self._fill(self.lexicon.taxonomy[c]["sentence"], c, initiators, entities) for c in categories]
        out = " ".join([base, *sentences])
        return out if len(out) <= 1200 else out[:1197].rsplit(" ", 1)[0] + "..."

    def _quantities(self, grams: set[tuple[str, ...]], categories: list[str], entities: list[Entity],
                    affected: list[str]) -> Quantities:
        subject = self._subject(categories[0], entities, []) if categories else ""
        main = next((e for e in entities if f"the {e.name}" == subject and e.density), None)
        main = main or next((e for name in affected for e in entities if e.name == name and e.density), None)
        hints = self.lexicon.temperature_hints(grams) + [e.temperature for e in entities if e.temperature is not None]
        hints += [self.lexicon.taxonomy[c]["temperature_c"] for c in categories
                  if "temperature_c" in self.lexicon.taxonomy[c] and not hints]
        temperature = max(hints, key=lambda t: abs(t - ROOM_TEMPERATURE_C)) if hints else ROOM_TEMPERATURE_C
        duration = max((self.lexicon.taxonomy[c]["duration_s"] for c in categories), default=None)
        if duration is not None:
            scene = self.lexicon.scene
            duration *= 4.0 if scene["slow_terms"].hits(grams) else 0.5 if scene["fast_terms"].hits(grams) else 1.0
            duration = min(duration, 3600.0)
        return Quantities(density_kg_m3=main.density if main else None, temperature_c=temperature, duration_s=duration)

    def _motion(self, grams: set[tuple[str, ...]], categories: list[str]) -> float:
        still = 1.0
        for c in categories:
            still *= 1.0 - float(self.lexicon.taxonomy[c]["motion"])
        if self.lexicon.scene["motion_terms"].hits(grams):
            still *= 0.5
        score = 1.0 - still
        if self.lexicon.scene["static_terms"].hits(grams):
            score *= 0.2
        return round(score, 3)
