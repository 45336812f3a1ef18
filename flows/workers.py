"""The fork server that physflow's worker processes start from, startable before Prefect is imported.

A command that will run CPU-bound stages starts it first thing (`start_fork_server`): the server imports what the
workers need (`PRELOAD` and the stages' modules, about 0.4 s of imports) on another core while the command
imports Prefect and the flow, so the workers are ready when the flow's first shard is. Started by the flow
itself (flows/runtime.py), the same imports held the first items of a cold run. This module imports neither
Prefect nor any stage.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.context
import multiprocessing.forkserver
import os
from collections.abc import Sequence

PRELOAD = ("__main__", "physflow.stages.base", "cv2", "av")
"""Imported once by the fork server that starts the workers, which inherit them: the caller's main module (as
`__mp_main__`; every multiprocessing child needs it, and otherwise each worker would import it again) and what
every CPU-bound stage needs. Not pandas (pyarrow imports it to build a table): workers return rows, the flow
process builds the tables, and the import (about 0.7 s) would hold the workers' start, which the first items of
a cold run wait for."""


def fork_context(preload: Sequence[str] = ()) -> multiprocessing.context.ForkServerContext:
    """The forkserver context whose server, when this call or a later one starts it, imports `PRELOAD` and
    `preload` (a server already running keeps what it imported)."""
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(list(dict.fromkeys([*PRELOAD, *preload])))
    return context


def start_fork_server(preload: Sequence[str]) -> None:
    """Start the fork server now, its imports (`fork_context`) running in its own process, on a machine of more
    than one core (where CPU-bound stages run on worker processes); nothing when it runs already. It ends with
    this process, workers or not."""
    if (os.cpu_count() or 1) > 1:
        fork_context(preload)
        multiprocessing.forkserver.ensure_running()
