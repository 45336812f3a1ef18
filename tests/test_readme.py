"""The README's stage index matches the code: every Stage subclass, its folder and the table it writes."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from physflow.stages.base import Stage

ROOT = Path(__file__).resolve().parents[1]
_ROW = re.compile(r"^\| (?P<stage>\w+) \| `stages/(?P<folder>\w+)` \| `(?P<table>\w+)` \| .+ \|$")


def _stages_in_code() -> set[tuple[str, str, str]]:
    found = set()
    for module_file in sorted((ROOT / "stages").glob("*/stage.py")):
        folder = module_file.parent.name
        module = importlib.import_module(f"physflow.stages.{folder}.stage")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Stage) and cls.__module__ == module.__name__ and not inspect.isabstract(cls):
                found.add((cls.name, folder, cls.table))
    return found


def _stages_in_readme() -> set[tuple[str, str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Stage index", 1)[1].split("\n## ", 1)[0]
    return {(m["stage"], m["folder"], m["table"]) for line in section.splitlines() if (m := _ROW.match(line))}


def test_readme_stage_index_matches_the_code():
    in_code = _stages_in_code()
    assert in_code, "no Stage subclasses found"
    assert _stages_in_readme() == in_code
