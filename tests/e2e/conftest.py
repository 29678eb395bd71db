"""A real dashboard server and a real headless Chromium (Debian's /usr/bin/chromium)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
MEDIA = ARTIFACTS / "media"
"""Where the dashboards under test keep uploaded photos."""
CHROMIUM = os.environ.get("GRIDGOV_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_PREFIXES = ("http://127.0.0.1", "http://localhost", "data:", "blob:", "about:")
DEVICES: dict = {}
"""Playwright's device descriptors (``p.devices``: "Pixel 5" …), filled by :func:`browser`."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def dashboard(demo_url: str) -> Iterator[str]:
    """The dashboard served on a free loopback port, against the demo database."""
    with serve(demo_url, "streamlit.log") as url:
        yield url


@pytest.fixture(scope="session")
def scratch_engine(small_district):  # type: ignore[no-untyped-def]
    """A writable copy of the demo district, for tests that act on cases."""
    from tests.dashboard.scratch import scratch_district

    engine = scratch_district(small_district, "gridgov_test_scratch_e2e")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def scratch_dashboard(scratch_engine) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The dashboard against the writable copy."""
    with serve(
        scratch_engine.url.render_as_string(hide_password=False), "streamlit-scratch.log"
    ) as url:
        yield url


def log_in(page, base: str, username: str = "leader") -> None:  # type: ignore[no-untyped-def]
    """Open the dashboard and log in through the form (a page reload logs out again)."""
    from layers.auth import DEMO_PASSWORD

    page.goto(base)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_text("退出登录").wait_for(timeout=30_000)


def open_page(page, title: str) -> None:  # type: ignore[no-untyped-def]
    """Go to another page the way a user does: the sidebar menu (keeps the session)."""
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
    page.get_by_role("heading", name=title).first.wait_for(timeout=30_000)


@contextmanager
def serve(database_url: str, log_name: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run the dashboard on a free loopback port against ``database_url`` (``env``: more
    environment variables for it, e.g. a setting a test lowers)."""
    port = _free_port()
    log = ARTIFACTS / log_name
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "dashboard_server.py"),  # app.py behind the HTTP guard
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": database_url,
                "GRIDGOV_MEDIA_DIR": str(MEDIA),
                **(env or {}),
            },
            stdout=out,
            stderr=out,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, proc)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the dashboard exited ({proc.returncode}); see tests/artifacts")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the dashboard did not become healthy in time")


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        DEVICES.update(p.devices)
        yield b
        b.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    """A page that refuses (and records) every request leaving this machine."""
    context = browser.new_context(viewport={"width": 1400, "height": 950}, locale="zh-CN")
    page = context.new_page()
    page.external_requests = []

    def guard(route):  # type: ignore[no-untyped-def]
        if route.request.url.startswith(LOCAL_PREFIXES):
            route.continue_()
        else:
            page.external_requests.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    yield page
    context.close()
