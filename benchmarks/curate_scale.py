"""Curation at scale: N generated short videos (several codecs and sizes), cold and warm, peak memory, task runs
per flow, the same on a local Dask cluster of 2 worker processes, and adding 10 new videos to the catalog.

    .venv/bin/python benchmarks/curate_scale.py [N] [--no-dask] [--cold-only] [--workdir DIR] [--batch-videos N]
    .venv/bin/python benchmarks/curate_scale.py --memory 250,1000,4000,8000 [--batch-videos N]

`--workdir DIR` keeps the videos and catalogs in DIR (made when absent) instead of a temporary folder, so
`benchmarks/curate_warm.py` can time warm runs of the same catalog in a fresh process afterwards.

Each video is 2 s of a drifting random texture (unique per seed, so no duplicates), in turn H.264 at 160x96,
MPEG-4 Part 2 at 128x96 and H.264 at 96x64, so every stage has work: one clip each, most kept and exported.
The flow runs with the curation defaults (64 videos an analysis shard, `flows/curate.py` `SHARD_VIDEOS`).
Peak RSS is this process's (the flow process; the worker processes' memory is their own, not counted). The cold
run's CPU seconds are split between the flow process, its worker processes and the Prefect server: on tiny videos
the server and the flow's orchestration are a large share of the work (each task run costs both). Each flow
runs as `physflow curate` runs it, without Prefect's heartbeat thread (flows/cli_common.py), whose one-second
sleep Prefect waits out at the end of every run: most of a warm run's time before. `--memory` instead runs cold
at several sizes, each in a process of its own, and prints how much the flow process's peak RSS grows per video.
The flow curates a run in batches of about `--batch-videos` (whole ingest shards: a batch holds at most one shard
more), holding one batch's rows at a time; what it keeps about every video is what `--memory` still sees grow.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
if "--workdir" in sys.argv:  # Prefect's result cache kept with the catalogs, as a user's PREFECT_HOME is
    os.makedirs(os.path.join(sys.argv[sys.argv.index("--workdir") + 1], "prefect"), exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", os.path.join(sys.argv[sys.argv.index("--workdir") + 1], "prefect"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import throwaway_home  # noqa: F401  (sets PREFECT_HOME before Prefect is imported)

# The local Dask cluster's scheduler, nannies and workers log every start and stop at INFO.
os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")

if TYPE_CHECKING:
    from physflow.flows.curate import CurateParams

# The flows and stages are imported where they are used: worker processes import this script (as their main
# module) and need none of them.
FORMATS = (("libx264", 160, 96), ("mpeg4", 128, 96), ("libx264", 96, 64))
FRAMES, FPS = 50, 25.0


def make_video(path: Path, seed: int) -> Path:
    import cv2
    import numpy as np

    from physflow.stages.common.video_io import write_video

    codec, w, h = FORMATS[seed % len(FORMATS)]
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (h, w + FRAMES, 3), dtype=np.uint8), (5, 5), 0)
    return write_video(path, (texture[:, i:i + w] for i in range(FRAMES)), FPS, codec=codec)


def params(folder: Path, catalog: Path) -> CurateParams:
    from physflow.flows.curate import BATCH_VIDEOS, CurateParams
    from physflow.stages.analyze import AnalyzeConfig
    from physflow.stages.clip_export import ExportConfig
    from physflow.stages.curate_filter import FilterConfig

    batch = int(os.environ.get("PHYSFLOW_BENCH_BATCH_VIDEOS", BATCH_VIDEOS))  # --batch-videos, to the children too
    return CurateParams(inputs=[str(folder)], catalog=str(catalog), batch_videos=batch,
                        analyze=AnalyzeConfig(width=64), filter=FilterConfig(min_height=0),
                        export=ExportConfig(short_side=32, max_frames=10))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(p: CurateParams, runner: object = None) -> tuple[float, Counter[str], int]:
    """Seconds, task runs by stage (a shard computed or checked is one; the shards a sealed catalog vouches for
    are one per stage), and how many shards computed (artifacts new to the registry). Prints, per stage that
    computed shards, the items computed and those reused from earlier artifacts."""
    from physflow.data_catalog import Catalog
    from physflow.flows.cli_common import command_heartbeats
    from physflow.flows.curate import curate_flow
    from physflow.flows.runtime import task_run_count, with_runner

    known = {r["key"] for r in Catalog(p.catalog).query("SELECT key FROM artifacts").to_pylist()}
    t0 = time.perf_counter()
    with command_heartbeats():  # as `physflow curate` runs it: Prefect waits out a heartbeat's 1 s sleep otherwise
        result = with_runner(curate_flow, runner)(p)
    seconds = time.perf_counter() - t0
    runs = Counter({stage: task_run_count([r for r in result.refs if r.stage == stage])
                    for stage in dict.fromkeys(r.stage for r in result.refs)})
    new = [r for r in result.refs if r.key not in known]
    items = {stage: (sum(r.stats.get("items", 0) - r.stats.get("reused_items", 0) for r in new if r.stage == stage),
                     sum(r.stats.get("reused_items", 0) for r in new if r.stage == stage))
             for stage in dict.fromkeys(r.stage for r in new)}
    print("  items computed / reused, by stage:", ", ".join(f"{k} {c}/{u}" for k, (c, u) in items.items()))
    return seconds, runs, len(new)


def main(args: argparse.Namespace) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from physflow.flows.runtime import RunnerSpec, task_runner

    n, keep = args.n, args.workdir
    with (contextlib.nullcontext(keep) if keep else tempfile.TemporaryDirectory()) as tmp, \
            prefect_test_harness(server_startup_timeout=300):
        folder = Path(tmp) / "videos"
        t0 = time.perf_counter()
        for i in range(n):
            make_video(folder / f"v{i:05d}.{'avi' if FORMATS[i % 3][0] == 'mpeg4' else 'mp4'}", seed=i)
        print(f"{n} videos written in {time.perf_counter() - t0:.1f} s; load {os.getloadavg()[0]:.1f}, "
              f"{os.cpu_count()} cpus")
        p = params(folder, Path(tmp) / "catalog")
        server = psutil.Process().children(recursive=True)  # the Prefect server's, before any worker starts
        before = cpu_split(server)
        cold, runs, computed = run(p)
        flow_cpu, workers_cpu, server_cpu = (b - a for a, b in zip(before, cpu_split(server), strict=True))
        print(f"cold: {cold:.1f} s = {n / cold:.1f} videos/s; task runs {dict(runs)} "
              f"(total {sum(runs.values())}, computed {computed}; {runs['dedup']} batch(es)); "
              f"peak RSS {peak_rss_mib():.0f} MiB")
        print(f"  cold CPU seconds: flow process {flow_cpu:.1f}, worker processes {workers_cpu:.1f}, Prefect server "
              f"{server_cpu:.1f} ({server_cpu / max(sum(runs.values()), 1) * 1000:.0f} ms a task run)")
        if not args.cold_only:  # only the two cold runs: the default runner against Dask
            warm_and_add(p, folder, n, cold)
        if not args.no_dask:
            dask_p = params(folder, Path(tmp) / "catalog-dask")
            total = len(list(folder.iterdir()))
            with task_runner(RunnerSpec(kind="dask", workers=2)) as runner:
                before = cpu_split(server)
                dcold, runs, _ = run(dask_p, runner)
                flow_cpu, workers_cpu, server_cpu = (b - a for a, b in zip(before, cpu_split(server), strict=True))
            print(f"dask 2 workers, cold on {total} videos: {dcold:.1f} s = {total / dcold:.1f} videos/s "
                  f"(default runner cold on {n}: {n / cold:.1f} videos/s)")
            print(f"  cold CPU seconds: flow process (the Dask scheduler's included) {flow_cpu:.1f}, Dask's worker "
                  f"processes {workers_cpu:.1f}, Prefect server {server_cpu:.1f}")


def cpu_split(server: list[psutil.Process]) -> tuple[float, float, float]:
    """CPU seconds used so far by this process, by its other descendants (the worker processes, living or
    reaped), and by the Prefect server's processes `server`."""
    from curate import cpu_seconds  # (each process with the children it reaped: a fork server's ended workers)

    me = psutil.Process()
    own = me.cpu_times()
    live = [c for c in me.children(recursive=True) if c not in server]
    workers = own.children_user + own.children_system
    return own.user + own.system, workers + cpu_seconds(live), cpu_seconds(server)


def warm_and_add(p: CurateParams, folder: Path, n: int, cold: float) -> None:
    """A warm re-run, then 10 new videos added to the catalog."""
    warm, runs, computed = run(p)
    print(f"warm: {warm:.2f} s ({warm / cold:.3f} of cold); task runs {dict(runs)}; computed {computed}; "
          f"peak RSS {peak_rss_mib():.0f} MiB")
    for i in range(n, n + 10):
        make_video(folder / f"v{i:05d}.mp4", seed=i)
    add, runs, computed = run(p)
    print(f"+10 videos: {add:.1f} s; task runs {dict(runs)} (total {sum(runs.values())}), shards computed "
          f"{computed}; peak RSS {peak_rss_mib():.0f} MiB")


def memory_growth(sizes: list[int]) -> None:
    """A cold run at each size, each in a fresh process (a process's peak RSS never falls), and how much the flow
    process's peak grows per video: flat memory would be none."""
    peaks: dict[int, float] = {}
    for n in sorted(set(sizes)):
        out = subprocess.run([sys.executable, __file__, str(n), "--no-dask", "--cold-only"], capture_output=True,
                             text=True, check=True, timeout=7200).stdout
        cold = next(line for line in out.splitlines() if line.startswith("cold:"))
        found = re.search(r"peak RSS (\d+) MiB", cold)
        assert found is not None, cold
        peaks[n] = float(found.group(1))
        print(f"{n} videos, {cold}", flush=True)
    low, high = min(peaks), max(peaks)
    growth = (peaks[high] - peaks[low]) * 1024 / (high - low) if high > low else 0.0
    steps = ", ".join(f"{a}->{b}: {(peaks[b] - peaks[a]) * 1024 / (b - a):.1f}" for a, b in itertools.pairwise(peaks))
    print(f"peak RSS {' / '.join(f'{peaks[n]:.0f}' for n in peaks)} MiB at {' / '.join(map(str, peaks))} videos: "
          f"{growth:.1f} KiB more per video ({steps})")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=int, default=1000, help="videos to generate (default 1000)")
    parser.add_argument("--no-dask", action="store_true", help="skip the cold run on a local 2-worker Dask cluster")
    parser.add_argument("--cold-only", action="store_true", help="skip the warm re-run and the 10 added videos")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the videos, catalogs and Prefect's home in this folder (made when absent)")
    parser.add_argument("--batch-videos", type=int, default=None, metavar="N",
                        help="the flow's batch_videos (default: its default, flows/curate.py BATCH_VIDEOS)")
    parser.add_argument("--memory", type=lambda text: [int(n) for n in text.split(",")], default=None,
                        metavar="N,N,...", help="instead: cold runs at these sizes, each in a fresh process, and "
                        "the flow process's peak RSS growth per video (e.g. 250,1000,4000)")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _arguments()
    if arguments.batch_videos:
        os.environ["PHYSFLOW_BENCH_BATCH_VIDEOS"] = str(arguments.batch_videos)
    if arguments.memory:
        memory_growth(arguments.memory)
    else:
        main(arguments)
