"""A throw-away Prefect home for a benchmark, removed when the process that made it ends: importing this module
sets PREFECT_HOME (`use_throwaway_prefect_home`), so a benchmark imports it before anything imports Prefect."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile


def use_throwaway_prefect_home() -> None:
    """Point PREFECT_HOME at a new temporary folder unless it is set (by the user, or by the benchmark process whose
    worker process this is: workers import the script again and share its home)."""
    if "PREFECT_HOME" in os.environ:
        return
    home = os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="physflow-bench-prefect-")
    owner = os.getpid()

    @atexit.register
    def _remove() -> None:
        if os.getpid() == owner:  # not in a forked child that runs exit handlers
            shutil.rmtree(home, ignore_errors=True)


use_throwaway_prefect_home()
