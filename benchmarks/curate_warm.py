"""Warm re-runs of the curate flow in a fresh process, sealed catalog against per-artifact checks.

    .venv/bin/python benchmarks/curate_warm.py VIDEOS WORKDIR [--scale] [--repeat 3] [--checks-only]

WORKDIR holds the catalog (`WORKDIR/catalog`) and Prefect's result cache (`WORKDIR/prefect`, as a user's
PREFECT_HOME would); a cold run fills them first when the catalog is empty. `--scale` uses
`benchmarks/curate_scale.py`'s parameters (and its WORKDIR from `--workdir`), otherwise the flow's defaults.
Warm runs are timed `--repeat` times with the seal (the catalog vouches for every registered artifact at once, and
the run stands on the last such run's memo, flows/run_memo.py: no artifact read), then as many times without it
(the seal removed and not written, so every job checks its artifact, data and blobs, and the flow reads every
artifact it plans from). Not in turn: an unsealed run's hundreds of task runs kept the server busy into the next
run, whose flow run then took seconds to be created (a sealed run of 1.1 s took 3.5 to 17 s after one).
Printed per run: seconds, artifacts and task runs, how many computed, artifact checks (ArtifactStore.problem calls).
`--checks-only` times the integrity work alone, without Prefect: every registered artifact checked one by one
as an unsealed warm run does, against one seal check.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

args = sys.argv[1:]
WORKDIR = Path(args[1]).resolve() if len(args) > 1 else None
if WORKDIR is not None:
    (WORKDIR / "prefect").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(WORKDIR / "prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")


def main() -> None:
    from prefect.testing.utilities import prefect_test_harness

    from physflow.data_catalog import ArtifactStore, Catalog
    from physflow.data_catalog.seal import SEAL_FILE, folders
    from physflow.data_catalog.storage import Root
    from physflow.flows.cli_common import command_heartbeats
    from physflow.flows.curate import CurateParams, curate_flow
    from physflow.flows.runtime import task_run_count

    if WORKDIR is None:
        raise SystemExit(__doc__)
    videos, catalog = Path(args[0]).resolve(), WORKDIR / "catalog"
    if "--checks-only" in args:
        checks_only(catalog)
        return
    repeat = int(args[args.index("--repeat") + 1]) if "--repeat" in args else 3
    if "--scale" in args:
        sys.path.insert(0, str(Path(__file__).parent))
        from curate_scale import params
        p = params(videos, catalog)
    else:
        p = CurateParams(inputs=[str(videos)], catalog=str(catalog))
    checks = {"n": 0}
    problem = ArtifactStore.problem

    def counted(self, *a, **kw):  # type: ignore[no-untyped-def]
        checks["n"] += 1
        return problem(self, *a, **kw)

    ArtifactStore.problem = counted  # type: ignore[method-assign]
    sealing = Catalog.seal
    # as `physflow curate` runs a flow: Prefect otherwise waits out a heartbeat's 1 s sleep at the end of every run
    with tempfile.TemporaryDirectory(), prefect_test_harness(server_startup_timeout=300), command_heartbeats():
        if not catalog.exists():
            t0 = time.perf_counter()
            curate_flow(p)
            print(f"cold run (catalog was empty): {time.perf_counter() - t0:.1f} s")
        files = sum(len(listed) for _, listed in folders(Root(catalog)))
        n_art = Catalog(catalog).query("SELECT count(*) AS n FROM artifacts").to_pylist()[0]["n"]
        print(f"{len(p.inputs)} input folder(s) {videos}; catalog: {n_art} artifacts, {files} files; "
              f"load {os.getloadavg()[0]:.1f}")
        times: dict[bool, list[float]] = {True: [], False: []}
        for sealed in (True, False):
            for i in range(repeat):
                Catalog.seal = sealing if sealed else (lambda self: False)  # type: ignore[method-assign]
                if not sealed:
                    (catalog / SEAL_FILE).unlink(missing_ok=True)
                else:
                    Catalog(catalog).seal()  # (as the cold run, or a run before, left it)
                known = {r["key"] for r in Catalog(catalog).query("SELECT key FROM artifacts").to_pylist()}
                checks["n"] = 0
                t0 = time.perf_counter()
                result = curate_flow(p)
                seconds = time.perf_counter() - t0
                times[sealed].append(seconds)
                computed = sum(r.key not in known for r in result.refs)
                print(f"warm {i + 1} {'sealed  ' if sealed else 'unsealed'}: {seconds:.2f} s, "
                      f"{len(result.refs)} artifacts, {task_run_count(result.refs)} task runs, {computed} computed, "
                      f"{checks['n']} artifact checks")
        Catalog.seal = sealing  # type: ignore[method-assign]
        Catalog(catalog).seal()
        t0 = time.perf_counter()
        trusted = Catalog(catalog).trusted_keys()
        print(f"one seal check (scan of {files} files + registry digest): {time.perf_counter() - t0:.3f} s, "
              f"holds: {trusted is not None}")
        print(f"median warm: sealed {statistics.median(times[True]):.2f} s, "
              f"unsealed {statistics.median(times[False]):.2f} s")


def checks_only(catalog: Path) -> None:
    """The integrity work alone, without Prefect: each registered artifact checked with its blobs as a warm run
    without a seal does (first, so this fresh process has nothing remembered), then one seal check."""
    from physflow.data_catalog import Catalog

    registered = Catalog(catalog).registered()
    t0 = time.perf_counter()
    intact = sum(Catalog(catalog).artifacts.intact(stage, key, with_blobs=True) is not None
                 for stage, key in registered)
    each = time.perf_counter() - t0
    t0 = time.perf_counter()
    trusted = Catalog(catalog).trusted_keys()
    sealed = time.perf_counter() - t0
    print(f"{len(registered)} artifacts: checked one by one (with blobs) {each:.3f} s, {intact} intact; "
          f"one seal check {sealed:.3f} s, vouches for {len(trusted or ())}")


if __name__ == "__main__":
    main()
