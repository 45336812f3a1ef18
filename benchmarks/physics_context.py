"""Physics context: the rules backend's agreement with the hand-written prompt sets and its throughput;
with --local, the SmolLM2 GGUF's seconds per answer through llama-cpp-python.

    python benchmarks/physics_context.py [--items 20000] [--local PATH.gguf --local-items 3]
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from physflow.stages.physics_context import CATEGORIES, PhysicsContextConfig, PhysicsContextStage, PhysicsItem  # noqa: E402
from physflow.stages.physics_context.rules import RulesReasoner  # noqa: E402

DATA = ROOT / "tests" / "stages" / "physics_context" / "data"


def agreement(name: str, reasoner: RulesReasoner) -> None:
    prompts = tomllib.loads((DATA / f"{name}.toml").read_text())["prompt"]
    exact = tp = fp = fn = 0
    per_cat = {c: [0, 0] for c in CATEGORIES}  # found, expected
    for p in prompts:
        got, want = set(reasoner.reason(p["text"]).categories), set(p["categories"])
        exact += got == want
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
        for c in want:
            per_cat[c][1] += 1
            per_cat[c][0] += c in got
    print(f"{name}: {len(prompts)} prompts, exact category-set agreement {exact}/{len(prompts)} "
          f"({exact / len(prompts):.1%}), micro precision {tp / (tp + fp):.3f}, recall {tp / (tp + fn):.3f}")
    missed = {c: f"{f}/{e}" for c, (f, e) in per_cat.items() if f < e}
    print(f"  categories with misses: {missed or 'none'}")


def throughput(n: int) -> None:
    base = [p["text"] for p in tomllib.loads((DATA / "physics_prompts.toml").read_text())["prompt"]]
    items = [PhysicsItem(f"{base[i % len(base)]} Take {i}.") for i in range(n)]
    stage = PhysicsContextStage(PhysicsContextConfig(batch_size=256))
    start = time.perf_counter()
    table = stage.run(items)
    seconds = time.perf_counter() - start
    print(f"rules stage: {table.num_rows} captions in {seconds:.2f} s = {n / seconds:,.0f} captions/s (one process)")


def local(path: str, n: int) -> None:
    base = [p["text"] for p in tomllib.loads((DATA / "physics_prompts.toml").read_text())["prompt"]][:n]
    stage = PhysicsContextStage(PhysicsContextConfig(backend="local", model_path=path, max_tokens=256))
    start = time.perf_counter()
    rows = stage.run([PhysicsItem(t) for t in base]).to_pylist()
    seconds = time.perf_counter() - start
    valid = sum(r["error"] is None for r in rows)
    print(f"local GGUF: {n} prompts in {seconds:.1f} s ({seconds / n:.1f} s each, model load included), "
          f"{valid}/{n} schema-valid")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--local", default=None, help="a GGUF file to time the local backend on")
    parser.add_argument("--local-items", type=int, default=3)
    args = parser.parse_args()
    reasoner = RulesReasoner()
    agreement("physics_prompts", reasoner)
    agreement("held_out", reasoner)
    throughput(args.items)
    if args.local:
        local(args.local, args.local_items)


if __name__ == "__main__":
    main()
