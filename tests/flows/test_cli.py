"""The `physflow` command, run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from physflow.flows import env
from physflow.flows.cli import app
from tests.servers import free_port

runner = CliRunner()


@pytest.fixture()
def cli_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_help_explains_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "catalog", "ui", "demo", "weights"):
        assert command in result.output


@pytest.mark.usefixtures("prefect_api")
def test_demo_then_catalog_commands(cli_env):
    cat = str(cli_env / "cat")
    result = runner.invoke(app, ["--catalog", cat, "demo"])
    assert result.exit_code == 0, result.output
    assert "bouncing_ball.mp4" in result.output and "open failed" in result.output
    result = runner.invoke(app, ["--catalog", cat, "catalog", "tables"])
    assert result.exit_code == 0 and "videos" in result.output
    result = runner.invoke(app, ["--catalog", cat, "catalog", "sql", "SELECT count(*) AS n FROM videos WHERE error IS NULL"])
    assert result.exit_code == 0 and " 7 " in result.output  # 3 shape videos + 4 synthetic clips
    result = runner.invoke(app, ["--catalog", cat, "catalog", "sql", "DROP VIEW videos"])
    assert result.exit_code == 2 and "read-only" in result.output.lower()
    result = runner.invoke(app, ["--catalog", cat, "catalog", "show", "nope"])
    assert result.exit_code == 2 and "unknown table" in result.output
    _demo_person_is_annotated(cat)


def _demo_person_is_annotated(cat: str) -> None:
    """The demo's human clip: a pose and a body fit in every frame, no error row (with the set-up's pose files)."""
    from physflow.data_catalog import Catalog

    def rows(table: str) -> list[dict]:
        return Catalog(cat).query(
            f"SELECT t.error FROM {table} t JOIN synth_clips s ON split_part(t.clip_id, ':', 1) = s.video_id "
            "WHERE s.scene = 'human_jump'").to_pylist()

    poses, fits = rows("poses"), rows("body_fits")
    if poses and all("no pose model" in (r["error"] or "") for r in poses):
        pytest.skip("no BlazePose files registered (`physflow weights install-defaults`): the person is not posed")
    assert len(poses) >= 16 and not [r for r in poses if r["error"]]
    assert len(fits) == len(poses) and not [r for r in fits if r["error"]]


def test_bad_run_fails_before_work(cli_env):
    result = runner.invoke(app, ["--catalog", str(cli_env / "cat"), "ingest", str(cli_env / "missing")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["--catalog", str(cli_env / "cat"), "ingest", ".", "--decode-check", "all"])
    assert result.exit_code == 2 and "decode_check" in result.output
    assert not (cli_env / "cat" / "artifacts").exists()


def test_weights_lists_entries(cli_env):
    (cli_env / "physflow.toml").write_text('[weights]\nraft = "nowhere/raft.pth"\n')
    result = runner.invoke(app, ["weights"])
    assert result.exit_code == 0
    assert "raft" in result.output and "missing" in result.output and "not configured" in result.output



@pytest.mark.timeout(180)
def test_ui_serves_on_loopback(tmp_path):
    port = free_port()
    cat = tmp_path / "cat"
    proc = subprocess.Popen(
        [sys.executable, "-m", "physflow.flows.cli", "--catalog", str(cat), "ui", "--port", str(port)],
        env={k: v for k, v in os.environ.items() if k not in ("PREFECT_HOME", "PREFECT_API_URL")},
        cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + 120
        while not (env.server_alive(url) and (cat / ".prefect" / env.UI_URL_FILE).exists()):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.5)
        assert (cat / ".prefect" / "prefect.db").exists()  # the database lives under the catalog root
        assert (cat / ".prefect" / env.UI_URL_FILE).read_text() == url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_enrich_one_prompt_answers_without_server_or_catalog(cli_env):
    cat = cli_env / "cat"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_HOME", "PREFECT_API_URL")}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "physflow.flows.cli", "--catalog", str(cat), "enrich", "--json",
                           "a glass falls off a table"], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert '"enhanced_prompt"' in proc.stdout and "glass" in proc.stdout
    assert "prefect" not in proc.stderr.lower()  # no temporary server started
    assert not (cat / "artifacts").exists() and not (cat / "catalog.duckdb").exists()  # nothing registered
    assert seconds < 60


def test_status_reads_the_catalog_database_without_a_server(cli_env):
    """After a flow run on a catalog, `physflow status` (no server running) lists it from the database."""
    cat = cli_env / "cat"
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_HOME", "PREFECT_API_URL")}
    cmd = [sys.executable, "-m", "physflow.flows.cli", "--catalog", str(cat)]
    saved = subprocess.run([*cmd, "enrich", "--save", "a ball bounces"], env=env, capture_output=True, text=True,
                           timeout=300, check=False)
    assert saved.returncode == 0, saved.stdout + saved.stderr
    status = subprocess.run([*cmd, "status"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "physics-context" in status.stdout and "physics_context" in status.stdout
    assert "Starting temporary server" not in status.stdout + status.stderr


def test_a_commands_flow_runs_share_the_client_made_ahead(prefect_api):
    """`client_ahead` makes the Prefect client on a thread; the flow runs in `command_prefect` use it (no client of
    their own), and it is closed when the block ends. Without it each run makes its own."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.context import SyncClientContext
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from physflow.flows.cli_common import client_ahead, command_prefect

    @flow(name="client-seen")
    def client_seen() -> int:
        return id(get_client(sync_client=True))

    client_ahead()
    with command_prefect():
        made = SyncClientContext.get()
        assert made is not None and made.client._started
        assert client_seen() == client_seen() == id(made.client)
    assert made.client._closed and SyncClientContext.get() is None
    with command_prefect():  # nothing made ahead: Prefect's own client per run, as before
        assert SyncClientContext.get() is None
        assert client_seen() != id(made.client)
    client_ahead()
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}), command_prefect():
        assert SyncClientContext.get() is None  # made for another server than the block's: not used


def test_a_client_that_cannot_reach_the_server_is_left_to_the_flow_run(monkeypatch):
    """A server that does not answer: nothing is kept from `client_ahead` (its client closed), so the flow run
    makes its own and reports the failure as it would; without a server configured no client is made."""
    import socket

    from prefect.context import SyncClientContext
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from physflow.flows import cli_common

    made: list[SyncClientContext] = []
    real = SyncClientContext.__init__

    def keep(self: SyncClientContext, *args: object, **kwargs: object) -> None:
        real(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(SyncClientContext, "__init__", keep)
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for url, clients in ((f"http://127.0.0.1:{port}/api", 1), ("", 0)):
        made.clear()
        with temporary_settings(updates={PREFECT_API_URL: url}):
            cli_common.client_ahead()
            cli_common._Ahead.thread.join(timeout=60)
        assert len(made) == clients
        assert all(c.client._closed for c in made)
        with cli_common.command_prefect():
            assert SyncClientContext.get() is None


def test_commands_run_flows_without_heartbeats_unless_the_user_sets_them(prefect_api):
    """A command's flow runs without Prefect's heartbeat thread (whose one-second sleep each run waited out);
    a frequency the user set (environment or profile) is kept."""
    from prefect import flow
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, get_current_settings, temporary_settings

    from physflow.flows.cli_common import command_run, run_flow

    @flow(name="heartbeat-setting")
    def heartbeat_seen(params: object) -> int | None:
        return get_current_settings().flows.heartbeat_frequency

    assert heartbeat_seen(None) is not None  # Prefect's default for a flow called directly
    assert run_flow(heartbeat_seen, None) is None
    with command_run():  # how the commands that call their flow directly (demo, pipeline, synth) run it
        assert heartbeat_seen(None) is None
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 45}):
        assert run_flow(heartbeat_seen, None) == 45
