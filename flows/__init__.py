"""Prefect flows over physflow stages. Importing this package turns Prefect's server analytics off, and has
pyarrow allocate from the system allocator (unless `ARROW_DEFAULT_MEMORY_POOL` names another): its default,
mimalloc, keeps the pages each thread frees for that thread, and a flow's many threads (Prefect's task runs,
each reading artifacts) grew the flow process's RSS with every batch of a curation run: at 4,000 videos its peak
was 480 MiB with mimalloc and 440 MiB with the system allocator (`benchmarks/curate_scale.py --memory`)."""

import os
import sys

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
if os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "system" and "pyarrow" in sys.modules:  # imported first: told now
    sys.modules["pyarrow"].set_memory_pool(sys.modules["pyarrow"].system_memory_pool())
