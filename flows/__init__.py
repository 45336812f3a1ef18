"""Prefect flows over physflow stages. Importing this package turns Prefect's server analytics off."""

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
