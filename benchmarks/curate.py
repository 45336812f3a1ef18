"""Curation throughput against the decode floor, and a warm re-run, measured in one run on the same files.

    .venv/bin/python benchmarks/curate.py [VIDEO_FOLDER] [--threads N] [--repeat N] [--export-mode auto|copy|reencode]

(a) decode floor: PyAV decodes every frame of every video, one after another, with the decoder thread
    count the analysis uses (no conversion, no scaling); three passes, before (b), between (d) and (e), and
    after (e), and the ratios use their median: on a shared machine one pass can swing by 2x with the load;
    (b) cold: the full curate-videos flow on a fresh catalog (ingest, analyze, dedup, filter, export), on a
    Prefect server that has answered once already (its first answer after start-up takes about 1 s);
    (c) warm: the same flow again (all Cached);
    (d) an empty Prefect flow on the same server: the fixed cost of any flow run, the floor under (c);
    (e) cold and warm again on another fresh catalog, run as `physflow` commands run a flow: in a fresh process
    (whose workers' fork server starts first thing, as `physflow curate` starts it while it imports Prefect, and
    its worker processes with its first flow; whose Prefect client is made on a thread while it imports the
    flow, as the command makes it, and serves the cold and the warm run), without Prefect's heartbeat thread,
    whose one-second sleep Prefect waits out at the end of every run (flows/cli_common.py); `--repeat N` times
    (default 3), each on a fresh catalog in a fresh process, and the ratios use the median cold and warm (one
    cold run swings by 0.2-0.3 s with the load, about as much as a change worth measuring);
(f) the CPU seconds of (a) and (e): the floor's process, and the flow's process with its worker processes (each
    apart), and the Prefect server's while (e) ran. Unlike wall times they hardly move with the machine's load, so
    they tell what the flow costs against the floor: with the cores fully used, cold / floor cannot exceed
    floor seconds x cores / cold CPU seconds (and the server shares the cores);
(g) `physflow curate` itself, cold on a fresh catalog and then warm, each in a process of its own: what a user
    waits for, the interpreter's start, the imports and the worker processes' shutdown included.
Throughput is in source frames per second (frames the floor decoded / wall time). Per stage of the cold run it
prints the work (seconds summed over shards and items, as one process would spend them) and the wall time (first
task run's start to the last one's end, from Prefect).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import throwaway_home  # noqa: F401  (sets PREFECT_HOME before Prefect is imported)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av

from physflow.stages.common.video_io import open_video

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "videos"
if not DEFAULT.exists():  # a worktree under /work/wt: the shared data sits beside it
    DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "videos"


def decode_floor(files: list[str], threads: int) -> tuple[int, float, float]:
    """Frames decoded, and seconds and CPU seconds (all threads) taken decoding every frame of every file."""
    frames, start, cpu = 0, time.perf_counter(), time.process_time()
    for path in files:
        try:
            with open_video(path) as c:
                v = c.streams.video[0]
                v.thread_type = "AUTO"
                if threads:
                    v.thread_count = threads
                for _ in c.decode(v):
                    frames += 1
        except (av.FFmpegError, IndexError):
            continue  # broken files count the frames they gave
    return frames, time.perf_counter() - start, time.process_time() - cpu


def tree_cpu_seconds() -> float:
    """CPU seconds used so far by this process and its descendants, living or ended (once their parent reaped
    them)."""
    import psutil

    me = psutil.Process()
    return cpu_seconds([me, *me.children(recursive=True)])


def cpu_seconds(processes: list) -> float:
    """CPU seconds used so far by `processes` (psutil's) and their children they reaped; one that has ended counts
    nothing."""
    import psutil

    total = 0.0
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def stage_walls(flow_run_id: object) -> dict[str, float]:
    """Per stage of a flow run, seconds from its first task run's start to its last one's end (Prefect's times)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from physflow.flows.monitor import stage_of

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=200)
    spans: dict[str, list[float]] = {}
    for run in runs:
        stage = stage_of(run.name)
        if stage and run.start_time and run.end_time:
            span = spans.setdefault(stage, [run.start_time.timestamp(), 0.0])
            span[0] = min(span[0], run.start_time.timestamp())
            span[1] = max(span[1], run.end_time.timestamp())
    return {name: end - start for name, (start, end) in sorted(spans.items(), key=lambda kv: kv[1][0])}


def main() -> None:
    args = _arguments()
    # Imported here: the curation's worker processes import this module, and need none of it.
    from prefect.client.orchestration import get_client
    from prefect.testing.utilities import prefect_test_harness

    from physflow.flows.curate import CurateParams, curate_flow
    from physflow.flows.inputs import resolve_inputs
    from physflow.flows.runtime import summarize
    from physflow.stages.analyze import AnalyzeConfig
    from physflow.stages.clip_export import ExportConfig

    threads, folder = args.threads, args.folder
    load_before = os.getloadavg()
    files, _ = resolve_inputs([str(folder)])
    frames, *floor_before = decode_floor(files, threads)
    export = ExportConfig(mode=args.export_mode) if args.export_mode else ExportConfig()
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=300):
        # The server's first answer after it starts takes about 1 s (its own start-up); a running server has
        # given it long before a curation, so it is given here, before the clock starts.
        with get_client(sync_client=True) as client:
            client.api_version()
        params = CurateParams(inputs=[str(folder)], catalog=str(Path(tmp) / "catalog"),
                              analyze=AnalyzeConfig(threads=threads), export=export)
        t0 = time.perf_counter()
        cold_state = curate_flow(params, return_state=True)
        cold = time.perf_counter() - t0
        cold_result = cold_state.result()
        walls = stage_walls(cold_state.state_details.flow_run_id)
        t0 = time.perf_counter()
        curate_flow(params)
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        _empty_flow()
        empty = time.perf_counter() - t0
        floor_between = decode_floor(files, threads)[1:]
        commands = [_as_command(params.model_copy(update={"catalog": str(Path(tmp) / f"catalog-command-{i}")}))
                    for i in range(args.repeat)]
        command = tuple(statistics.median(run[k] for run in commands) for k in range(6))
        cli = _cli_runs(folder, Path(tmp) / "catalog-cli")
    passes = (floor_before, floor_between, decode_floor(files, threads)[1:])
    floors = [wall for wall, _ in passes]
    floor = statistics.median(floors)
    floor_cpu = statistics.median(cpu for _, cpu in passes)
    cores = os.cpu_count() or 1
    s = cold_result.summary
    print(f"{len(files)} files, {frames} frames decoded, decoder threads {threads or 'auto'}, {cores} cpus")
    print(f"(a) decode floor: {floor:.2f} s = {frames / floor:.0f} frames/s, the median of "
          f"{' / '.join(f'{f:.2f}' for f in floors)} s (before / between / after the runs)")
    print(f"(b) cold curation: {cold:.2f} s = {frames / cold:.0f} frames/s "
          f"(analyze stage {s['analysis_seconds']:.2f} s of work; {s['kept']} kept, {s['rejected']} rejected)")
    print(f"(c) warm re-run: {warm:.2f} s")
    print(f"(d) empty Prefect flow: {empty:.2f} s (the least any flow run costs here; warm / cold cannot go under "
          f"{empty / cold:.3f} at this cold time)")
    stages: dict[str, list] = {}
    for ref in cold_result.refs:
        stages.setdefault(ref.stage, []).append(ref)
    print("cold work by stage (s, summed over shards):",
          ", ".join(f"{k} {summarize(v)['seconds']:.2f}" for k, v in stages.items()))
    print("cold wall by stage (s, first task start to last task end):",
          ", ".join(f"{k} {v:.2f}" for k, v in walls.items()))
    print(f"cold throughput / decode floor: {floor / cold:.3f}   warm / cold: {warm / cold:.3f}")
    print(f"(e) as a command runs it (a fresh process, no heartbeats), the median of {len(commands)}: cold "
          f"{command[0]:.2f} s ({' / '.join(f'{run[0]:.2f}' for run in commands)}), warm {command[1]:.2f} s; "
          f"cold throughput / decode floor {floor / command[0]:.3f}, warm / cold {command[1] / command[0]:.3f}")
    print(f"(f) CPU seconds: decode floor {floor_cpu:.2f} (median); as a command (median), cold {command[2]:.2f} "
          f"= {command[2] / floor_cpu:.2f} x the floor's, warm {command[3]:.2f}; with all {cores} cores busy "
          f"cold / floor could reach {floor * cores / command[2]:.3f} at this floor; of the cold CPU seconds the "
          f"flow process took {command[4]:.2f} and its workers {command[2] - command[4]:.2f}; the Prefect server "
          f"took {command[5]:.2f} more (cold and warm runs together), on the same cores")
    print(f"(g) `physflow curate` end to end (a fresh process each, its start and imports included): cold {cli[0]:.2f} s, "
          f"warm {cli[1]:.2f} s")
    print("load average (1 min) before / after: " f"{load_before[0]:.2f} / {os.getloadavg()[0]:.2f}")


def _as_command(params: object) -> tuple[float, ...]:
    """Seconds of a cold and a warm curation run as a `physflow` command runs a flow: in a fresh process (its
    worker processes start with the flow, as a command's do), on this server, without heartbeats; then the CPU
    seconds of each (the process and its workers), of the cold run's flow process alone, and of the Prefect server
    while the command ran (both runs)."""
    import psutil
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    server = psutil.Process().children(recursive=True)  # the test harness's server, before the command starts
    before = cpu_seconds(server)
    out = subprocess.run([sys.executable, __file__, "--command-run", params.model_dump_json()],  # type: ignore[attr-defined]
                         env=env, capture_output=True, text=True, timeout=1800, check=True).stdout
    cold, warm, cold_cpu, warm_cpu, cold_own = json.loads(out.strip().splitlines()[-1])
    return cold, warm, cold_cpu, warm_cpu, cold_own, cpu_seconds(server) - before


def _cli_runs(folder: Path, catalog: Path) -> tuple[float, float]:
    """Seconds of `physflow curate FOLDER` on a fresh catalog, then again (warm), each a process of its own, as a
    user runs it (the benchmark's settings are the command's defaults)."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    command = [str(Path(sys.executable).with_name("physflow")), "--catalog", str(catalog), "curate", str(folder)]
    seconds = []
    for _ in range(2):
        t0 = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, timeout=1800, check=True)
        seconds.append(time.perf_counter() - t0)
    return seconds[0], seconds[1]


def _command_run(params_json: str) -> None:
    """The child of `_as_command`: prints [cold seconds, warm seconds, their CPU seconds, the cold run's CPU seconds
    in this process alone] as its last line. As `physflow curate` does, it starts the workers' fork server first
    and makes its Prefect client while it imports the flow (`cli_common.client_ahead`); its two runs share that
    client."""
    from physflow.flows.cli_curate import WORKER_MODULES
    from physflow.flows.workers import start_fork_server

    start_fork_server(WORKER_MODULES)
    from physflow.flows.cli_common import client_ahead, command_prefect

    client_ahead()
    from physflow.flows.curate import CurateParams, curate_flow

    params = CurateParams.model_validate_json(params_json)
    seconds, cpu, own = [], [], []
    with command_prefect():
        for _ in range(2):
            t0, c0, o0 = time.perf_counter(), tree_cpu_seconds(), time.process_time()
            curate_flow(params)
            seconds.append(time.perf_counter() - t0)
            cpu.append(tree_cpu_seconds() - c0)
            own.append(time.process_time() - o0)
    print(json.dumps([*seconds, *cpu, own[0]]))


def _empty_flow() -> None:
    from prefect import flow

    flow(name="empty", log_prints=False)(lambda: None)()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT, help=f"videos to curate (default {DEFAULT})")
    parser.add_argument("--threads", type=int, default=0, help="decoder threads, floor and analysis (0: FFmpeg's choice)")
    parser.add_argument("--repeat", type=int, default=3, help="cold and warm command runs (e), each on a fresh "
                        "catalog (default 3; the median counts)")
    parser.add_argument("--export-mode", choices=("auto", "copy", "reencode"), default=None,
                        help="clip export mode (default: the stage's default)")
    return parser.parse_args()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--command-run":
        _command_run(sys.argv[2])
    else:
        main()
