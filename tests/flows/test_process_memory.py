"""The flows' process settings for memory: pyarrow on the system allocator unless the user names another."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BACKEND = "import pyarrow as pa, physflow.flows; print(pa.default_memory_pool().backend_name)"


@pytest.mark.parametrize(("chosen", "first", "expected"), [
    (None, "", "system"),
    (None, "import pyarrow; ", "system"),  # pyarrow imported before the flows: told when they are
    ("mimalloc", "", "mimalloc"),
])
def test_pyarrow_allocates_from_the_system_allocator_unless_told_otherwise(chosen, first, expected):
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    out = subprocess.run([sys.executable, "-c", first + BACKEND], capture_output=True, text=True, env=env,
                         timeout=120, check=True).stdout
    assert out.strip() == expected
