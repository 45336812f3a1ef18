"""Domain and law agreement of the rules reasoner on the hand-written physics prompt set.

Each prompt (tests/stages/physics_context/data/physics_prompts.jsonl) describes a set-up and names the
area it tests (mechanics, optics, heat, material, chemistry) and the law that decides what happens next.
Domain agreement: the area of the reasoner's first law equals the prompt's. Law agreement: the prompt's
law is among the reasoner's laws. Run: `.venv/bin/python benchmarks/physics_laws.py [--split heldout]`.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

PROMPTS = Path(__file__).resolve().parents[1] / "tests/stages/physics_context/data/physics_prompts.jsonl"
# Areas of the 17 WISA categories, for contexts that carry no `laws` (the reasoner before laws existed).
WISA_AREA = {
    "collision": "mechanics", "rigid_body_motion": "mechanics", "liquid_motion": "mechanics",
    "gas_motion": "mechanics", "elastic_motion": "material", "deformation": "material", "melting": "heat",
    "solidification": "heat", "vaporization": "heat", "liquefaction": "heat", "explosion": "chemistry",
    "combustion": "chemistry", "reflection": "optics", "refraction": "optics", "scattering": "optics",
    "interference_diffraction": "optics", "unnatural_light_source": "optics",
}


def load_prompts(split: str | None = None) -> list[dict]:
    rows = [json.loads(line) for line in PROMPTS.read_text().splitlines() if line.strip()]
    return [r for r in rows if split in (None, "all", r["split"])]


def predicted(context: object) -> tuple[str | None, list[str]]:
    """(area of the first law, laws) of a context; the WISA categories stand in when it has no laws."""
    laws = list(getattr(context, "laws", None) or getattr(context, "categories", []))
    if not laws:
        return None, []
    try:
        from physflow.stages.physics_context.laws import law_domain
        return law_domain(laws[0]), laws
    except ImportError:
        return WISA_AREA.get(laws[0]), laws


def agreement(prompts: list[dict], reason) -> dict[str, dict[str, float]]:
    """Per area and overall: n, domain agreement, law agreement, prompts with no law at all."""
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for p in prompts:
        domain, laws = predicted(reason(p["text"]))
        for key in (p["domain"], "all"):
            t = tally[key]
            t[0] += 1
            t[1] += domain == p["domain"]
            t[2] += p["law"] in laws
            t[3] += not laws
    return {k: {"n": t[0], "domain": round(t[1] / t[0], 3), "law": round(t[2] / t[0], 3), "none": t[3]}
            for k, t in sorted(tally.items())}


def misses(prompts: list[dict], reason) -> list[str]:
    out = []
    for p in prompts:
        domain, laws = predicted(reason(p["text"]))
        if p["law"] not in laws or domain != p["domain"]:
            out.append(f"{p['domain']}/{p['law']}: got {laws[:3]} | {p['text']}")
    return out


def main() -> None:
    from physflow.stages.physics_context.rules import RulesReasoner

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="heldout", choices=["dev", "heldout", "all"])
    parser.add_argument("--misses", action="store_true", help="list the prompts that were missed")
    args = parser.parse_args()
    prompts = load_prompts(args.split)
    reasoner = RulesReasoner()
    print(f"split {args.split}: {len(prompts)} prompts")
    print("| area | n | domain | law | no law |\n|---|---|---|---|---|")
    for area, s in agreement(prompts, reasoner.reason).items():
        print(f"| {area} | {s['n']} | {s['domain']:.2f} | {s['law']:.2f} | {s['none']} |")
    if args.misses:
        print("\n".join(misses(prompts, reasoner.reason)))


if __name__ == "__main__":
    main()
