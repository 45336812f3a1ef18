"""The `physflow` command's quick end (`lifetime.exit_now`): everything Python runs at exit still runs, and the
exit status and output are what a normal exit gives."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import atexit, sys, threading, time
    from pathlib import Path
    from physflow.flows import lifetime

    out = Path(sys.argv[1])
    atexit.register(lambda: (out / "atexit").write_text("ran"))

    def late_writer():
        time.sleep(0.3)
        (out / "thread").write_text("joined")

    threading.Thread(target=late_writer).start()  # not a daemon: exit waits for it, as Python's own does
    sys.stdout.write("x" * 1_000_000)  # no newline, no flush: still in the buffer
    lifetime.exit_now(eval(sys.argv[2]))
    """
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("status", "code"), [("None", 0), ("3", 3), ("'bad run: no weights'", 1)])
def test_exit_now_runs_the_exit_hooks_joins_threads_and_keeps_output_and_status(tmp_path, status, code):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), status], check=False, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == "x" * 1_000_000
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "thread").read_text() == "joined"
    if code == 1:
        assert "bad run: no weights" in proc.stderr


@pytest.mark.timeout(120)
def test_the_command_exits_with_its_status_and_its_whole_output(tmp_path):
    """`physflow` as installed: the help in full with status 0, a usage error with status 2."""
    command = Path(sys.executable).with_name("physflow")
    if not command.exists():
        pytest.skip(f"the physflow command is not installed beside {sys.executable}")
    ok = subprocess.run([str(command), "--help"], check=False, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "Usage: physflow" in ok.stdout and "curate" in ok.stdout
    bad = subprocess.run([str(command), "curate", "--no-such-option"], check=False, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2
    assert "No such option" in bad.stdout + bad.stderr
