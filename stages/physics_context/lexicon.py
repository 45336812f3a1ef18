"""The rules reasoner's data (taxonomy.toml, lexicon.toml), compiled once into term -> meaning lookups.

Matching is on word n-grams (up to four words) of the lower-cased text; every word of a term also
matches its regular inflections, so "melt" finds "melts", "melted" and "melting".
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from physflow.stages.physics_context.prompts import DATA_DIR
from physflow.stages.physics_context.schema import CATEGORIES

MAX_NGRAM = 4
_WORD = re.compile(r"[a-z]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def inflections(word: str) -> set[str]:
    """Regular forms of one word: -s, -es, -ed, -d, -ing, -ies/-ied, e-drop, doubled final consonant."""
    forms = {word, word + "s", word + "es", word + "ed", word + "d", word + "ing", word + "er"}
    if word.endswith("e"):
        forms |= {word[:-1] + "ing"}
    if word.endswith("y"):
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    if len(word) >= 3 and word[-1] not in "aeiouwxy" and word[-2] in "aeiou" and word[-3] not in "aeiou":
        forms |= {word + word[-1] + "ing", word + word[-1] + "ed", word + word[-1] + "er"}
    return forms


def term_forms(term: str) -> set[tuple[str, ...]]:
    """Every n-gram that counts as an occurrence of `term`."""
    parts = term.lower().split()
    out: set[tuple[str, ...]] = {()}
    for part in parts:
        out = {(*prefix, form) for prefix in out for form in inflections(part)}
    return out


def noun_forms(term: str) -> set[tuple[str, ...]]:
    """A noun phrase and its plural (last word -s, -es, -ies)."""
    *head, last = term.lower().split()
    plurals = {last, last + "s", last + "es"} | ({last[:-1] + "ies"} if last.endswith("y") else set())
    return {(*head, p) for p in plurals}


class TermSet:
    """A set of terms, tested against a text's n-grams."""

    def __init__(self, terms: list[str]):
        self.terms = list(terms)
        self.forms = set().union(*(term_forms(t) for t in terms)) if terms else set()

    def hits(self, grams: set[tuple[str, ...]]) -> bool:
        return not self.forms.isdisjoint(grams)


@dataclass(frozen=True)
class Rule:
    category: str | None  # None: pick elastic_motion or deformation by the materials present
    any: TermSet
    with_: TermSet | None
    without: TermSet | None

    def fires(self, grams: set[tuple[str, ...]]) -> bool:
        return (self.any.hits(grams) and (self.with_ is None or self.with_.hits(grams))
                and (self.without is None or not self.without.hits(grams)))


@dataclass(frozen=True)
class Entity:
    name: str  # the words as written in the text
    material: str
    role: str
    density: float | None
    elastic: bool
    temperature: float | None


@dataclass
class Lexicon:
    taxonomy: dict[str, dict[str, Any]]
    rules: list[Rule]
    principles: dict[str, TermSet]
    entity_forms: dict[tuple[str, ...], tuple[str, str]] = field(default_factory=dict)  # form -> (material, role)
    materials: dict[str, dict[str, Any]] = field(default_factory=dict)
    temperatures: dict[tuple[str, ...], float] = field(default_factory=dict)
    scene: dict[str, TermSet] = field(default_factory=dict)

    def entities(self, tokens: list[str]) -> list[Entity]:
        """Entities in order of appearance, longest phrase first, each name once."""
        found: dict[str, Entity] = {}
        i = 0
        while i < len(tokens):
            for n in range(min(MAX_NGRAM, len(tokens) - i), 0, -1):
                gram = tuple(tokens[i:i + n])
                if gram in self.entity_forms:
                    material, role = self.entity_forms[gram]
                    mat = self.materials.get(material, {})
                    name = " ".join(gram)
                    found.setdefault(name, Entity(name, material, role, mat.get("density"), bool(mat.get("elastic")),
                                                  mat.get("temperature")))
                    i += n
                    break
            else:
                i += 1
        return list(found.values())

    def temperature_hints(self, grams: set[tuple[str, ...]]) -> list[float]:
        return [t for form, t in self.temperatures.items() if form in grams]


def ngrams(tokens: list[str]) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for n in range(1, MAX_NGRAM + 1) for i in range(len(tokens) - n + 1)}


def _optional(terms: list[str] | None) -> TermSet | None:
    return TermSet(terms) if terms else None


@cache
def load_lexicon() -> Lexicon:
    taxonomy = tomllib.loads((DATA_DIR / "taxonomy.toml").read_text())
    raw = tomllib.loads((DATA_DIR / "lexicon.toml").read_text())
    if tuple(taxonomy) != CATEGORIES:
        raise ValueError(f"taxonomy.toml must list the 17 categories in order {CATEGORIES}, got {tuple(taxonomy)}")
    rules = []
    for spec in raw["rule"]:
        category = None if spec.get("when_elastic") else spec["category"]
        if category is not None and category not in taxonomy:
            raise ValueError(f"lexicon rule names unknown category {category!r}")
        rules.append(Rule(category, TermSet(spec["any"]), _optional(spec.get("with")), _optional(spec.get("without"))))
    lexicon = Lexicon(taxonomy=taxonomy, rules=rules,
                      principles={name: TermSet(terms) for name, terms in raw["principles"].items()},
                      materials=raw["materials"], scene={k: TermSet(v) for k, v in raw["scene"].items()})
    for spec in raw["entities"].values():
        if spec["material"] not in raw["materials"]:
            raise ValueError(f"lexicon entity uses unknown material {spec['material']!r}")
        for term in spec["terms"]:
            for form in noun_forms(term):
                lexicon.entity_forms.setdefault(form, (spec["material"], spec["role"]))
    for term, temp in raw["temperatures"].items():
        for form in term_forms(term):
            lexicon.temperatures[form] = float(temp)
    return lexicon
