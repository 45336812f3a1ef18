"""Shared fixtures. Prefect runs against a throw-away database; the real data lives in ../shared/data/real."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_PREFECT_HOME = tempfile.mkdtemp(prefix="physflow-test-prefect-")
_OWNER = os.getpid()


@atexit.register  # registered first, so it runs last: after Prefect's own exit handlers stop its test server
def _remove_prefect_home() -> None:
    if os.getpid() == _OWNER:  # not in a forked child that runs exit handlers
        shutil.rmtree(_PREFECT_HOME, ignore_errors=True)


os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.pop("PREFECT_API_URL", None)
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ["YOLO_OFFLINE"] = "true"
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"
REAL_VIDEOS = REAL / "videos"
FLOW_GT = REAL / "flow_gt"


@pytest.fixture(scope="session")
def real_videos() -> Path:
    if not (REAL_VIDEOS / "sam2_05_default_juggle.mp4").exists():
        pytest.skip(f"real test videos not found at {REAL_VIDEOS}")
    return REAL_VIDEOS


@pytest.fixture(scope="session")
def flow_gt() -> Path:
    if not (FLOW_GT / "RubberWhale" / "flow10.flo").exists():
        pytest.skip(f"optical-flow ground truth not found at {FLOW_GT}")
    return FLOW_GT


@pytest.fixture(scope="session")
def prefect_api():
    """A temporary Prefect API for the whole session (flows under test report to it)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture()
def catalog_root(tmp_path: Path) -> Path:
    return tmp_path / "catalog"


@pytest.fixture(scope="session")
def demo_videos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Small H.264 shape videos plus one truncated file, written by the demo code."""
    from physflow.flows.demo import write_demo_videos

    return write_demo_videos(tmp_path_factory.mktemp("demo-videos"))
