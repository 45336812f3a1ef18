"""Set-up -> outcome reasoning of the rules backend: which laws decide what happens next.

Each law of `data/laws.toml` scores the text: a strong cue decides alone (+2), each hit cue group adds
1, and three conditions are computed from the set-up rather than read off it: a substance's state
against the scene temperature (phase changes), a body's density against the liquid it is put in
(sinks or floats), and light meeting an opaque body (a shadow). Laws at 2 points or more are predicted,
the best first; the first law's area is the text's domain.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any

from physflow.stages.physics_context.lexicon import TermSet, ngrams, words
from physflow.stages.physics_context.prompts import DATA_DIR
from physflow.stages.physics_context.schema import LAWS

STRONG, CUE, COMPUTED, THRESHOLD = 2.0, 1.0, 3.0, 2.0
MAX_LAWS = 4
# A reaction changes what the substances are, which decides the outcome before how they move or warm.
REACTION_BONUS = 0.5
DOMAINS = ("mechanics", "optics", "heat", "material", "chemistry")
ROOM_C = 20.0
# "minus 18 degrees", "-10 C", "1600 degrees Celsius", "100 °C", "212 F"
_TEMP = re.compile(r"(minus\s+|-\s*)?(\d+(?:\.\d+)?)\s*(?:degrees?|°|deg)\s*(celsius|fahrenheit|c|f)?\b"
                   r"|(minus\s+|-\s*)?(\d+(?:\.\d+)?)\s*(c|f)\b", re.IGNORECASE)


class Cue:
    """Terms of one cue: words and two-word phrases match their inflections (TermSet); longer phrases
    match as written, anywhere in the text (their inflected forms would multiply past use)."""

    def __init__(self, terms: list[str]):
        short = [t for t in terms if len(t.split()) <= 2]
        self.short = TermSet(short)
        self.long = [f" {' '.join(words(t))} " for t in terms if len(t.split()) > 2]

    def hits(self, grams: set[tuple[str, ...]], padded: str) -> bool:
        return self.short.hits(grams) or any(p in padded for p in self.long)


@dataclass(frozen=True)
class Law:
    slug: str
    domain: str
    statement: str
    wisa: tuple[str, ...]
    outcome: str
    generic: bool
    strong: Cue
    cues: tuple[Cue, ...]
    requires: Cue | None
    excludes: Cue | None


@dataclass(frozen=True)
class Substance:
    melt_c: float
    boil_c: float | None
    density: float
    solid: bool  # solid as named although it melts below room temperature (ice)

    def liquid(self, molten: bool) -> bool:
        return molten or (self.melt_c < ROOM_C and not self.solid)


@dataclass(frozen=True)
class Prediction:
    """One predicted law: its slug, score, and the outcome sentence filled for this set-up."""

    law: Law
    score: float
    outcome: str


@cache
def load_laws() -> dict[str, Law]:
    raw = tomllib.loads((DATA_DIR / "laws.toml").read_text())
    if set(raw) != set(LAWS):
        raise ValueError(f"laws.toml must describe exactly the schema's laws; differs by {set(raw) ^ set(LAWS)}")
    out = {}
    for slug, spec in raw.items():
        if spec["domain"] not in DOMAINS:
            raise ValueError(f"laws.toml: law {slug!r} has unknown domain {spec['domain']!r}")
        out[slug] = Law(slug, spec["domain"], spec["statement"], tuple(spec["wisa"]), spec["outcome"],
                        bool(spec.get("generic")),
                        Cue(spec["strong"]), tuple(Cue(c) for c in spec["cues"]),
                        Cue(spec["requires"]) if spec.get("requires") else None,
                        Cue(spec["excludes"]) if spec.get("excludes") else None)
    return out


@cache
def load_substances() -> tuple[dict[tuple[str, ...], tuple[str, Substance]], Cue, Cue, Cue, frozenset[str], Cue]:
    raw = tomllib.loads((DATA_DIR / "substances.toml").read_text())
    table: dict[tuple[str, ...], tuple[str, Substance]] = {}  # phrase -> (name, substance)
    for name, spec in raw["substances"].items():
        sub = Substance(float(spec["melt_c"]), spec.get("boil_c"), float(spec["density"]), bool(spec.get("solid")))
        for term in [name, *spec.get("also", [])]:
            table[tuple(term.split())] = (term, sub)
    cues = raw["cues"]
    return (table, Cue(cues["into_liquid"]), Cue(cues["liquids"]), Cue(cues["molten"]),
            frozenset(cues["object_words"]), Cue(cues["left_out"]))


def _padded(tokens: list[str]) -> str:
    return f" {' '.join(tokens)} "


def law_domain(slug: str) -> str:
    return load_laws()[slug].domain


def scene_temperature(text: str, hints: dict[tuple[str, ...], float]) -> float | None:
    """The stated temperature in deg C: a number with a unit first, then words about the surroundings
    (a freezer, a hot day; not words that name the substance itself, like ice), else None."""
    for m in _TEMP.finditer(text):
        sign, number, unit = (m.group(1), m.group(2), m.group(3)) if m.group(2) else (m.group(4), m.group(5), m.group(6))
        value = float(number) * (-1 if sign else 1)
        return (value - 32) * 5 / 9 if unit and unit.lower().startswith("f") else value
    skip = load_substances()[4]
    grams = ngrams(words(text))
    found = [hints[g] for g in grams if g in hints and g[0] not in skip]
    return max(found, key=lambda t: abs(t - ROOM_C)) if found else None



def substances_in(tokens: list[str]) -> list[tuple[str, Substance]]:
    """Substances named in the text, longest phrase first, in order of appearance; a container named
    by what it holds ("a glass of water") counts as its content only."""
    table = load_substances()[0]
    found, i = [], 0
    while i < len(tokens):
        for n in (3, 2, 1):
            hit = table.get(tuple(tokens[i:i + n]))
            if hit:
                if tokens[i + n:i + n + 1] != ["of"]:
                    found.append(hit)
                i += n
                break
        else:
            i += 1
    return found


def _phase_points(tokens: list[str], grams: set[tuple[str, ...]], temp: float | None) -> dict[str, float]:
    """Phase changes the temperature forces on the substances present (solid above melting point, ...)."""
    molten = load_substances()[3].hits(grams, _padded(tokens))
    present = substances_in(tokens)
    if temp is None and load_substances()[5].hits(grams, _padded(tokens)):  # ice left out in the room melts
        temp = ROOM_C if any(s.solid for _, s in present) else None
    if temp is None:
        return {}
    out: dict[str, float] = {}
    for _, sub in present:
        liquid = sub.liquid(molten)
        if liquid and temp < sub.melt_c:
            out["solidification"] = COMPUTED
        elif not liquid and temp > sub.melt_c:
            out["melting"] = COMPUTED
        if liquid and sub.boil_c is not None and temp >= float(sub.boil_c):
            out["vaporization"] = COMPUTED
    return out


def _buoyancy(tokens: list[str], grams: set[tuple[str, ...]]) -> tuple[float, str]:
    """(points, filled outcome) when a body of known density is put in a liquid."""
    _, into_liquid, liquids, *_ = load_substances()
    if not (into_liquid.hits(grams, _padded(tokens)) and liquids.hits(grams, _padded(tokens))):
        return 0.0, ""
    found = substances_in(tokens)
    liquid = next((s for name, s in found if liquids.hits(ngrams(name.split()), f" {name} ") and s.melt_c < ROOM_C), None)
    bodies = [(name, s) for name, s in found if s.melt_c >= ROOM_C or not liquids.hits(ngrams(name.split()), f" {name} ")]
    body = bodies[0] if bodies and found.index(bodies[0]) < found.index(next(f for f in found if f[1] is liquid)) \
        else None  # the body is named before the liquid it is put in
    if liquid is None or body is None:
        return 0.0, ""
    name, sub = body
    sinks = sub.density > liquid.density
    return COMPUTED, (f"the {name} {'sinks' if sinks else 'floats'} because it is "
                      f"{'denser' if sinks else 'less dense'} than the liquid "
                      f"({sub.density:.0f} vs {liquid.density:.0f} kg/m^3)")


def predict(text: str, temperature_hints: dict[tuple[str, ...], float]) -> list[Prediction]:
    """The laws that decide this set-up's outcome, best first (at most MAX_LAWS)."""
    tokens = words(text)
    grams = ngrams(tokens)
    computed = _phase_points(tokens, grams, scene_temperature(text, temperature_hints))
    float_points, float_outcome = _buoyancy(tokens, grams)
    if float_points:
        computed["buoyancy"] = float_points
    scored: list[tuple[float, int, Law]] = []
    padded = _padded(tokens)
    for order, law in enumerate(load_laws().values()):
        if (law.excludes and law.excludes.hits(grams, padded)) or (law.requires and not law.requires.hits(grams, padded)):
            continue
        score = (STRONG if law.strong.hits(grams, padded) else 0.0) + sum(CUE for c in law.cues if c.hits(grams, padded))
        score += computed.get(law.slug, 0.0)
        if score >= THRESHOLD:  # generic laws rank lower, reactions higher, among the predicted ones
            rank = score - (0.5 if law.generic else 0.0) + (REACTION_BONUS if law.domain == "chemistry" else 0.0)
            scored.append((rank, order, law))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [Prediction(law, score, float_outcome if law.slug == "buoyancy" and float_outcome else law.outcome)
            for score, _, law in scored[:MAX_LAWS]]


def describe(predictions: list[Prediction], subject: str) -> dict[str, Any]:
    """Laws, their statements and their outcome sentences for one subject."""
    fill = {"b": subject, "verb": "sinks or floats", "comparison": "denser or less dense than"}
    return {"laws": [p.law.slug for p in predictions],
            "statements": [p.law.statement for p in predictions],
            "outcomes": [p.outcome.format(**fill) for p in predictions]}
