"""The layout rules of DESIGN.md §2, read from the source: every folder under stages/ is one stage, stages import
each other only where declared below, and models/ and data_catalog/ never import stages.

Shared code sits one floor lower: `stages/base.py`, `stages/common/` (annotation rows, video I/O, flow encoding,
the physics-prior library), or `models/`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ROOT / "stages"
SHARED = {"base", "common"}  # the floor every stage may use

# Folders whose Stage class is still being written (the training stage returns checkpoint rows; the flow
# registers them). Empty this set when it lands.
NOT_YET_A_STAGE: set[str] = set()

# The declared cross-stage uses: (stage, stage it imports, why).
CROSS_STAGE_USES = {
    ("generate", "detect"): "phase 2 runs detect on its coarse video",
    ("generate", "pose"): "phase 2 runs pose on its coarse video",
    ("generate", "body_fit"): "phase 2 runs body_fit on its coarse video",
    ("generate", "physics_context"): "the prompt's physics context",
    ("generate", "physics_metrics"): "physics measures of the coarse and refined videos",
    ("generate", "train"): "loads a checkpoint the train stage wrote, with its recipe's modules",
    ("physics_metrics", "synth"): "re-simulates a synthetic clip's exact truth to measure against",
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
    return out


def _stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if parts[:2] == ["physflow", "stages"] and len(parts) > 2 else None


def stage_folders() -> list[str]:
    return sorted(p.name for p in STAGES.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name not in SHARED)


def test_every_stage_folder_holds_a_stage():
    missing = []
    for name in stage_folders():
        if name in NOT_YET_A_STAGE:
            continue
        text = "\n".join(f.read_text() for f in (STAGES / name).rglob("*.py"))
        if not re.search(r"^class \w+\([^)]*\bStage[\[)]", text, re.M):  # Stage among the bases (mixins first)
            missing.append(name)
    assert not missing, f"stages/ folders without a Stage subclass (libraries belong in stages/common or models/): {missing}"


def test_loose_modules_in_stages_are_only_the_base():
    loose = sorted(p.name for p in STAGES.glob("*.py") if p.name not in {"__init__.py", "base.py"})
    assert not loose, f"loose modules in stages/ (move them to stages/common/): {loose}"


def test_stages_import_each_other_only_where_declared():
    bad = []
    for name in stage_folders():
        for path in (STAGES / name).rglob("*.py"):
            for line, module in _imports(path):
                other = _stage_of(module)
                if other and other != name and other not in SHARED and (name, other) not in CROSS_STAGE_USES:
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not bad, "undeclared cross-stage imports:\n" + "\n".join(bad)


def test_declared_uses_are_real():
    used = set()
    for name in stage_folders():
        for path in (STAGES / name).rglob("*.py"):
            used |= {(name, _stage_of(m)) for _, m in _imports(path) if _stage_of(m)}
    stale = sorted(set(CROSS_STAGE_USES) - used)
    assert not stale, f"declared cross-stage uses that no code makes (remove them): {stale}"


def test_shared_floor_imports_no_stage():
    bad = []
    for path in [*(STAGES / "common").rglob("*.py"), STAGES / "base.py"]:
        for line, module in _imports(path):
            other = _stage_of(module)
            if other and other not in SHARED:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not bad, "stages/common and stages/base.py must not import a stage:\n" + "\n".join(bad)


def test_models_and_catalog_never_import_stages():
    bad = []
    for folder in ("models", "data_catalog"):
        for path in (ROOT / folder).rglob("*.py"):
            bad += [f"{path.relative_to(ROOT)}:{line} imports {m}" for line, m in _imports(path)
                    if m == "physflow.stages" or m.startswith("physflow.stages.")]
    assert not bad, "models/ and data_catalog/ must not import stages:\n" + "\n".join(bad)
