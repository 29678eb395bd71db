"""`gridgov api`: the command serves the FastAPI app (factory) and answers from the database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.api.server import free_port
from tests.workflow.factories import served_database

ROOT = Path(__file__).resolve().parent.parent
GRIDGOV = Path(sys.executable).parent / "gridgov"
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="module")
def api_database_url() -> str:
    eng = served_database("gridgov_test_cli_api")
    url = eng.url.render_as_string(hide_password=False)
    eng.dispose()
    return url


def _wait_for(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gridgov api exited ({proc.returncode}); see tests/artifacts")
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.3)
    raise RuntimeError("gridgov api did not answer in time")


def test_gridgov_api_serves_open311_from_the_database(api_database_url):
    port = free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with (ARTIFACTS / "gridgov_api.log").open("w") as log:
        proc = subprocess.Popen(
            [str(GRIDGOV), "api", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": api_database_url},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            answer = _wait_for(f"http://127.0.0.1:{port}/open311/v2/services.json", proc)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert answer.status_code == 200, answer.text
    services = answer.json()
    # the catalogue loaded into the served database, not a canned answer
    assert len(services) > 10
    assert {"service_code", "service_name"} <= set(services[0])


def test_gridgov_api_listens_on_loopback_by_default():
    from typer.testing import CliRunner

    from cli import app

    result = CliRunner().invoke(app, ["api", "--help"])
    assert result.exit_code == 0, result.output
    assert "127.0.0.1" in result.output
    assert "8000" in result.output
