"""Wall time of the interactive `physflow` commands, run as a user runs them (a new process each time).

    .venv/bin/python benchmarks/cli_latency.py [CATALOG] [--repeat N]

CATALOG defaults to a temporary folder; when it holds no catalog yet, `physflow demo` fills it first (not
timed). Then each command runs N times (default 5): one-shot `enrich "..."` (no Prefect server, nothing
stored), `catalog tables`, `weights` and `status` (no server running: read from the catalog's run
database). Prints min / median / max wall seconds per command against the 3 s goal, and the median CPU
seconds (user + system), which a loaded machine does not inflate as much.
"""

from __future__ import annotations

import argparse
import os
import resource
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


def physflow(catalog: Path, args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) one `physflow` process took; fails when the command fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "physflow.flows.cli", "--catalog", str(catalog), *args], env=env,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"physflow {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    args = _arguments()
    repeat = args.repeat
    catalog = args.catalog or Path(tempfile.mkdtemp(prefix="physflow-cli-latency-")) / "catalog"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    if not (catalog / "catalog.duckdb").exists():
        print(f"building the demo catalog in {catalog} (not timed) ...", flush=True)
        physflow(catalog, ["demo"], env)
    print(f"catalog {catalog}; {repeat} runs each; goal < {GOAL_S} s; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'command':<16} {'min s':>7} {'median s':>9} {'max s':>7} {'median CPU s':>13}  goal (median wall)")
    for label, command in COMMANDS.items():
        runs = [physflow(catalog, command, env) for _ in range(repeat)]
        times = [wall for wall, _ in runs]
        median = statistics.median(times)
        verdict = "met" if median < GOAL_S else "MISSED"
        print(f"{label:<16} {min(times):7.2f} {median:9.2f} {max(times):7.2f} "
              f"{statistics.median(cpu for _, cpu in runs):13.2f}  {verdict}", flush=True)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("catalog", nargs="?", type=Path, default=None,
                        help="catalog to time the commands on (default: a temporary one, filled by `physflow demo`)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (default 5)")
    return parser.parse_args()


if __name__ == "__main__":
    main()
