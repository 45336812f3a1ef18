"""Wall time of the interactive `physflow` commands, run as a user runs them (a new process each time).

    .venv/bin/python benchmarks/cli_latency.py [CATALOG] [--repeat N]

CATALOG defaults to a temporary folder; when it holds no catalog yet, `physflow demo` fills it first (not
timed). Then each command runs N times (default 5): one-shot `enrich "..."` (no Prefect server, nothing
stored), `catalog tables`, `weights` and `status` (no server running: read from the catalog's run
database). Prints min / median / max seconds per command against the 3 s goal.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 3.0
PROMPT = "a glass falls off a table"
COMMANDS = {
    "enrich": ["enrich", PROMPT],
    "catalog tables": ["catalog", "tables"],
    "weights": ["weights"],
    "status": ["status"],
}


def physflow(catalog: Path, args: list[str], env: dict[str, str]) -> float:
    """Seconds one `physflow` process took; fails when the command fails."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "physflow.flows.cli", "--catalog", str(catalog), *args], env=env,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"physflow {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return seconds


def main() -> None:
    args = sys.argv[1:]
    repeat = int(args[args.index("--repeat") + 1]) if "--repeat" in args else 5
    names = [a for i, a in enumerate(args) if a != "--repeat" and (i == 0 or args[i - 1] != "--repeat")]
    catalog = Path(names[0]) if names else Path(tempfile.mkdtemp(prefix="physflow-cli-latency-")) / "catalog"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    if not (catalog / "catalog.duckdb").exists():
        print(f"building the demo catalog in {catalog} (not timed) ...", flush=True)
        physflow(catalog, ["demo"], env)
    print(f"catalog {catalog}; {repeat} runs each; goal < {GOAL_S} s; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'command':<16} {'min s':>7} {'median s':>9} {'max s':>7}  goal")
    for label, command in COMMANDS.items():
        times = [physflow(catalog, command, env) for _ in range(repeat)]
        median = statistics.median(times)
        verdict = "met" if median < GOAL_S else "MISSED"
        print(f"{label:<16} {min(times):7.2f} {median:9.2f} {max(times):7.2f}  {verdict}", flush=True)


if __name__ == "__main__":
    main()
