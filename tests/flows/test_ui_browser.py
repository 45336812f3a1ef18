"""The Prefect UI in a real headless Chromium: the pipeline run, its stage task runs, their states and artifacts.

Needs Debian's `chromium` and `chromium-driver` packages (never a browser download) and selenium;
skips with the reason when one is absent. Screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import free_port, serving

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000")
STAGE_RUN = re.compile(r"^[a-z_]+-[0-9a-f]{8}$")
CURATE_STAGES = {"ingest", "analyze", "dedup", "curate_filter", "clip_export"}
STATES = {"Completed", "Cached", "Failed", "Crashed", "Running", "Pending", "Cancelled", "Scheduled"}



@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Any]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(f"no Chromium here ({CHROMIUM} and {CHROMEDRIVER}; apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install physflow[dev])")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path, prefix='chromium-')}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture()
def prefect_server(tmp_path: Path) -> Iterator[str]:
    """A real `prefect server start` on 127.0.0.1 with its own database."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "server-home"), "PREFECT_API_URL": url,
           "PREFECT_UI_API_URL": url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert serving(f"{url}/health", proc, 150), \
            "the Prefect server did not start: " + (tmp_path / "server.log").read_text()[-3000:]
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def _run_pipeline(url: str, catalog: Path) -> str:
    env = {**os.environ, "PREFECT_API_URL": url, "PYTHONPATH": str(ROOT)}
    env.pop("PREFECT_HOME", None)
    out = subprocess.run([sys.executable, "-m", "physflow.flows.cli", "--catalog", str(catalog), "pipeline", "--demo",
                          "--previews", "2"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def _flow_runs(url: str) -> list[dict[str, Any]]:
    body = {"limit": 50, "sort": "START_TIME_DESC"}
    runs = httpx.post(f"{url}/flow_runs/filter", json=body, timeout=30).json()
    flows = {f["id"]: f["name"] for f in httpx.post(f"{url}/flows/filter", json={"limit": 50}, timeout=30).json()}
    return [{**r, "flow": flows[r["flow_id"]]} for r in runs]


def _task_runs(url: str, flow_run_id: str) -> list[dict[str, Any]]:
    body = {"flow_runs": {"id": {"any_": [flow_run_id]}}, "limit": 200}
    return list(httpx.post(f"{url}/task_runs/filter", json=body, timeout=30).json())


class Page:
    """The UI as a user sees it: open a run, click a tab, wait for text."""

    def __init__(self, driver: Any, base: str):
        self.driver, self.base = driver, base

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def wait_for(self, *needles: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if all(n in text for n in needles):
                return text
            assert time.monotonic() < deadline, f"{needles} not shown on {self.driver.current_url}:\n{text[:2000]}"
            time.sleep(0.5)

    def open_run(self, run: dict[str, Any]) -> str:
        self.driver.get(f"{self.base}/runs/flow-run/{run['id']}")
        return self.wait_for(run["name"], run["flow"], "Completed")

    def state_of(self, run_name: str) -> str | None:
        """The state badge on the list row (task or flow run) that names `run_name`."""
        from selenium.webdriver.common.by import By

        for row in self.driver.find_elements(By.CSS_SELECTOR, ".state-list-item"):
            lines = row.text.splitlines()
            if run_name in lines:
                return next((line for line in lines if line in STATES), None)
        return None

    def tab(self, name: str, *needles: str, shot: str) -> str:
        from selenium.webdriver.common.by import By

        (tab,) = [t for t in self.driver.find_elements(By.CSS_SELECTOR, "li.p-tab") if t.text.strip() == name]
        tab.click()
        text = self.wait_for(*needles)
        SHOTS.mkdir(exist_ok=True)
        self.driver.save_screenshot(str(SHOTS / f"ui-{shot}.png"))
        return text


@pytest.mark.timeout(600)
def test_ui_shows_pipeline_runs_states_and_artifacts(browser, prefect_server, tmp_path):
    catalog = tmp_path / "catalog"
    _run_pipeline(prefect_server, catalog)
    _run_pipeline(prefect_server, catalog)  # warm: every stage task run is Cached
    runs = _flow_runs(prefect_server)
    pipelines = [r for r in runs if r["flow"] == "physflow-pipeline"]
    curates = [r for r in runs if r["flow"] == "curate-videos"]
    assert len(pipelines) == 2 and len(curates) == 2 and len([r for r in runs if r["flow"] == "optical-flow"]) == 2
    page = Page(browser, prefect_server.removesuffix("/api"))

    cold, warm = pipelines[1], pipelines[0]
    page.open_run(cold)
    cold_curate = next(r for r in curates if r["parent_task_run_id"] in {t["id"] for t in _task_runs(
        prefect_server, cold["id"])})
    page.tab("Subflow Runs", cold_curate["name"], "curate-videos", "optical-flow", shot="pipeline-subflows")
    assert page.state_of(cold_curate["name"]) == "Completed"
    page.tab("Artifacts", "physflow-pipeline-summary", "MARKDOWN", shot="pipeline-artifacts")

    for run, state in ((cold_curate, "Completed"), (next(r for r in curates if r is not cold_curate), "Cached")):
        stage_runs = [t for t in _task_runs(prefect_server, run["id"]) if STAGE_RUN.match(t["name"])]
        assert {t["name"].rsplit("-", 1)[0] for t in stage_runs} == CURATE_STAGES
        assert {t["state"]["name"] for t in stage_runs} == {state}
        page.open_run(run)
        page.tab("Task Runs", *(t["name"] for t in stage_runs), shot=f"curate-task-runs-{state.lower()}")
        assert {t["name"]: page.state_of(t["name"]) for t in stage_runs} == {t["name"]: state for t in stage_runs}
    page.open_run(cold_curate)
    page.tab("Artifacts", "curate-summary", "MARKDOWN", shot="curate-artifacts")
    # Every stage's table artifact, on the UI's artifacts page.
    browser.get(f"{page.base}/artifacts")
    page.wait_for("ingest-stats", "analyze-stats", "dedup-stats", "curate-filter-stats", "clip-export-stats",
                  "optical-flow-stats", "physflow-pipeline-summary")
    browser.save_screenshot(str(SHOTS / "ui-artifacts.png"))
    page.open_run(warm)
    page.tab("Artifacts", "physflow-pipeline-summary", shot="warm-pipeline-artifacts")
    assert (SHOTS / "ui-curate-task-runs-cached.png").stat().st_size > 10_000

