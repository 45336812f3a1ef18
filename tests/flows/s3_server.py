"""A local S3-protocol server (moto) on 127.0.0.1 for the object-store tests, stopped after each test."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

moto_server = pytest.importorskip("moto.server", reason="moto (a local S3-protocol server) is not installed")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "physflow", "AWS_SECRET_ACCESS_KEY": "physflow-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}
# Set when the tests are collected too, before any test starts the default runner's worker processes: they keep
# the environment they started with, and a flow of a later test writes to its bucket from them.
for _name, _value in CREDENTIALS.items():
    os.environ.setdefault(_name, _value)


@contextlib.contextmanager
def running() -> Iterator[str]:
    """host:port of an S3-protocol server on 127.0.0.1 while the block runs (the credentials are set at import)."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"{host}:{port}"
    finally:
        server.stop()


@pytest.fixture()
def s3_endpoint(monkeypatch):
    """host:port of an S3-protocol server on 127.0.0.1, stopped after the test."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with running() as endpoint:
        yield endpoint
