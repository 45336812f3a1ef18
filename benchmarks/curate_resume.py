"""What a killed curation run costs: the work its re-run does again.

    .venv/bin/python benchmarks/curate_resume.py [N] [--kill-at 0.5] [--size 640x360] [--frames 100]
    .venv/bin/python benchmarks/curate_resume.py --videos FOLDER [--kill-at 0.5]

N generated videos (default 120: a drifting random texture, unique per seed, H.264 at `--size` for `--frames`
frames at 25 fps, one clip each) or the videos of FOLDER are curated three times with the curation defaults, each
as `physflow curate` runs a flow, in a process of its own, on one Prefect server:

(a) uninterrupted, on a fresh catalog: its seconds T and the items each stage computed;
(b) on another fresh catalog, killed (SIGKILL to its process group: the flow process, the fork server and the
    worker processes) at `--kill-at` x T after its start;
(c) the same run again on (b)'s catalog, to the end: its seconds, and per stage, over the shards it computed (not
    those (b) completed), the items it computed, took from earlier artifacts (reused) and took from the item
    journal (resumed: items (b) finished in shards it never completed).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import throwaway_home  # noqa: F401  (sets PREFECT_HOME before Prefect is imported)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def child(params_json: str) -> None:
    """One curation run as a command runs it; prints its seconds and each stage's item counts as JSON."""
    from physflow.data_catalog import Catalog
    from physflow.flows.cli_common import command_heartbeats
    from physflow.flows.curate import CurateParams, curate_flow

    params = CurateParams.model_validate_json(params_json)
    known = {r["key"] for r in Catalog(params.catalog).query("SELECT key FROM artifacts").to_pylist()}
    t0 = time.perf_counter()
    with command_heartbeats():
        result = curate_flow(params)
    counts: dict[str, Counter[str]] = {}
    for ref in result.refs:
        if ref.sealed or ref.key in known:  # complete before this run: nothing computed now
            continue
        c = counts.setdefault(ref.stage, Counter())
        reused, resumed = ref.stats.get("reused_items", 0), ref.stats.get("resumed_items", 0)
        c["computed"] += ref.stats.get("items", 0) - reused - resumed
        c["reused"] += reused
        c["resumed"] += resumed
    print(json.dumps({"seconds": time.perf_counter() - t0, "items": counts}))


def start(params: object, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, "--child", params.model_dump_json()],  # type: ignore[attr-defined]
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)


def finished(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, _ = proc.communicate(timeout=3600)
    if proc.returncode:
        raise SystemExit(f"curation run failed with exit status {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def make_video(path: Path, *, seed: int, width: int, height: int, frames: int) -> Path:
    """A smooth random texture drifting a pixel a frame: textured, moving, unique per seed."""
    import cv2
    import numpy as np

    from physflow.stages.common.video_io import write_video

    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (height, width + frames, 3), dtype=np.uint8), (5, 5), 0)
    return write_video(path, (texture[:, i:i + width] for i in range(frames)), 25.0)


def kept_at_kill(catalog: Path) -> dict[str, tuple[int, int]]:
    """Per stage, the items in complete artifacts (their manifests) and those in the item journal."""
    import sqlite3

    from physflow.data_catalog.journal import JOURNAL_FILE

    counts: dict[str, list[int]] = {}
    for manifest in (catalog / "artifacts").glob("*/*.manifest.json"):
        record = json.loads(manifest.read_text())
        counts.setdefault(record["stage"], [0, 0])[0] += len(record.get("items") or [])
    if (catalog / JOURNAL_FILE).exists():
        con = sqlite3.connect(catalog / JOURNAL_FILE)
        try:
            for stage, n in con.execute("SELECT stage, count(*) FROM items GROUP BY stage"):
                counts.setdefault(stage, [0, 0])[1] += n
        finally:
            con.close()
    return {stage: (a, j) for stage, (a, j) in counts.items()}


def main(args: argparse.Namespace) -> None:
    from physflow.flows.curate import CurateParams

    def params(folder: Path, catalog: Path) -> CurateParams:  # the curation defaults
        return CurateParams(inputs=[str(folder)], catalog=str(catalog))
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=300):
        with get_client(sync_client=True) as client:
            client.api_version()
        env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
        folder = args.videos
        if folder is None:
            folder = Path(tmp) / "videos"
            folder.mkdir()
            width, height = (int(v) for v in args.size.split("x"))
            for i in range(args.n):
                make_video(folder / f"v{i:05d}.mp4", seed=i, width=width, height=height, frames=args.frames)
        whole = finished(start(params(folder, Path(tmp) / "whole"), env))
        p = params(folder, Path(tmp) / "killed")
        proc = start(p, env)
        kill_at = args.kill_at * float(whole["seconds"])  # type: ignore[arg-type]
        time.sleep(kill_at)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        at_kill = kept_at_kill(Path(p.catalog))
        again = finished(start(p, env))
    print(f"{folder}: uninterrupted {whole['seconds']:.1f} s; killed at {kill_at:.1f} s; its re-run "
          f"{again['seconds']:.1f} s")
    print("  finished when killed, in complete artifacts / in the item journal: "
          + ", ".join(f"{stage} {a}/{j}" for stage, (a, j) in at_kill.items()))
    for stage, c in again["items"].items():  # type: ignore[union-attr]
        print(f"  {stage}: uninterrupted computed {whole['items'].get(stage, {}).get('computed', 0)}; "  # type: ignore[union-attr]
              f"re-run computed {c['computed']}, reused {c['reused']} (complete shards), resumed {c['resumed']} "
              "(finished items of shards the kill cut)")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=int, default=120, help="videos to generate (default 120)")
    parser.add_argument("--size", default="640x360", help="generated videos' width x height (default 640x360)")
    parser.add_argument("--frames", type=int, default=100, help="generated videos' frames (default 100)")
    parser.add_argument("--kill-at", type=float, default=0.5,
                        help="when to kill run (b), as a fraction of run (a)'s seconds (default 0.5)")
    parser.add_argument("--videos", type=Path, default=None, help="curate these videos instead of generating N")
    return parser.parse_args()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main(_arguments())
