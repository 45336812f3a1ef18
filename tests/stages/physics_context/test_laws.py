"""Set-up -> outcome reasoning of the rules backend on the held-back part of the physics prompt set
(benchmarks/physics_laws.py prints the same figures per area)."""

from __future__ import annotations

import pytest

from benchmarks.physics_laws import agreement, load_prompts
from physflow.stages.physics_context.laws import load_laws
from physflow.stages.physics_context.rules import RulesReasoner
from physflow.stages.physics_context.schema import CATEGORIES, LAWS


@pytest.fixture(scope="module")
def rules() -> RulesReasoner:
    return RulesReasoner()


def test_prompt_set_spans_five_areas_and_keeps_a_held_back_part():
    prompts = load_prompts("all")
    assert len(prompts) >= 300 and {p["law"] for p in prompts} <= set(LAWS)
    assert {p["domain"] for p in prompts} == {"mechanics", "optics", "heat", "material", "chemistry"}
    assert len(load_prompts("heldout")) >= 100


def test_taxonomy_keeps_wisa_and_adds_laws():
    laws = load_laws()
    assert set(CATEGORIES) < set(laws) and {"buoyancy", "shadow", "colour_mixing", "dissolution"} <= set(laws)


def test_held_back_agreement(rules):
    scores = agreement(load_prompts("heldout"), rules.reason)
    print(scores)
    assert scores["all"]["domain"] >= 0.85 and scores["all"]["law"] >= 0.85
    assert all(s["law"] >= 0.7 for s in scores.values())


@pytest.mark.parametrize(("text", "law", "said"), [
    ("A jug of fruit juice is put outside on a night at minus 12 degrees C.", "solidification", "solid"),
    ("A brass key is dropped into a glass of water.", "buoyancy", None),
    ("A cork is placed in a bathtub full of water.", "buoyancy", "floats"),
    ("A lead weight is thrown into the sea.", "buoyancy", "sinks"),
    ("A block of butter is left out at 40 degrees.", "melting", "melts"),
])
def test_outcome_follows_from_the_set_up(rules, text, law, said):
    context = rules.reason(text)
    assert context.laws and context.laws[0] == law, context.laws
    if said:
        assert any(said in p for p in context.phenomena), context.phenomena
