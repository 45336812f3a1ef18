"""Prefect flows over physflow stages. Importing this package sets the flow process up for long runs:

- Prefect's server analytics off;
- pyarrow allocates from the system allocator (unless `ARROW_DEFAULT_MEMORY_POOL` names another): its default,
  mimalloc, keeps the pages each thread frees for that thread, and a flow's many threads (Prefect's task runs,
  each reading artifacts) grew the flow process's RSS with every batch of a curation run: at 4,000 videos its
  peak was 480 MiB with mimalloc and 440 MiB with the system allocator (`benchmarks/curate_scale.py --memory`);
- on glibc, the process's malloc keeps two arenas (`MALLOC_ARENAS`), unless `MALLOC_ARENA_MAX` says otherwise.

The worker processes of the default runner (flows/workers.py) do not import this package: they decode with glibc's
defaults.
"""

import ctypes
import os
import sys

MALLOC_ARENAS = 2
"""glibc malloc arenas of a flow process (`PHYSFLOW_MALLOC_ARENAS`; 0: glibc's default, eight a core). Each thread
that allocates is given an arena of its own up to that default, and an arena keeps what its threads freed: the
flow's threads (Prefect's task runs and event loops, pyarrow's readers) left the memory they freed scattered over
a dozen arenas, and a curation run's RSS grew with every batch. At 4,000 videos in batches of 500, from the first
batch's end to the last's: 33 MiB more with the default, 17 with two arenas, 11 with one. With one, the threads
wait on its lock: warm runs over 1,000 videos took 0.39-0.40 s (median of five) against 0.36 with two and
0.37-0.40 with the default."""


def _limit_malloc_arenas() -> None:
    arenas = int(os.environ.get("PHYSFLOW_MALLOC_ARENAS", MALLOC_ARENAS))
    if not arenas or "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(-8, arenas)  # M_ARENA_MAX


os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
if os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "system" and "pyarrow" in sys.modules:  # imported first: told now
    sys.modules["pyarrow"].set_memory_pool(sys.modules["pyarrow"].system_memory_pool())
_limit_malloc_arenas()
