"""Process environment for Prefect, set before Prefect is imported (the CLI calls this first).

Without a server address, flow runs use Prefect's ephemeral API with its SQLite database under the
catalog root, the same database `physflow ui` serves, so every run shows in the UI. When `physflow ui`
is running for this catalog, runs go to it instead.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

DEFAULT_CATALOG = "./physflow-data"
"""The catalog root every command and flow uses unless told otherwise."""
PREFECT_DIR = ".prefect"
UI_URL_FILE = "ui-url"


def prefect_home(catalog_root: str) -> Path:
    return Path(catalog_root).expanduser().resolve() / PREFECT_DIR


def server_alive(url: str, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def configure(catalog_root: str) -> None:
    """Point Prefect at this catalog's server or database, unless the user already chose one."""
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # The ephemeral API starts in a few seconds on an idle machine; give a loaded one more room.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if "://" in catalog_root or os.environ.get("PREFECT_API_URL") or os.environ.get("PREFECT_HOME"):
        return
    home = prefect_home(catalog_root)
    home.mkdir(parents=True, exist_ok=True)  # Prefect creates only the last folder itself
    os.environ["PREFECT_HOME"] = str(home)
    url_file = home / UI_URL_FILE
    if url_file.exists():
        url = url_file.read_text().strip()
        if server_alive(url):
            os.environ["PREFECT_API_URL"] = url
