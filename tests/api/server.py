"""Serve the API on a free loopback port: in a background thread (``serving``) or as a
``gridgov api``-like uvicorn subprocess that a test may kill (``start_api_process``)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal

import httpx
import uvicorn
from sqlalchemy.engine import Engine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app, *, lifespan: Literal["on", "off"] = "off") -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Run ``app`` on 127.0.0.1 until the block ends; yield its base URL. ``lifespan="on"``
    runs the app's start-up as ``gridgov api`` does (it warms the database connections)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


ROOT = Path(__file__).resolve().parents[2]


def start_api_process(
    *,
    port: int,
    env: dict[str, str] | None = None,
    workers: int = 1,
    log_level: str = "warning",
    log: IO[str] | None = None,
) -> subprocess.Popen:
    """The API (``api.app:create_app``) under uvicorn as a child process on ``port``.

    ``env`` is added to this process's environment (e.g. ``DATABASE_URL``); the caller
    waits with :func:`wait_for_api` and stops or kills the process.
    """
    command = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command += ["--log-level", log_level, "--no-access-log"]
    return subprocess.Popen(command, cwd=ROOT, env=os.environ | (env or {}), stdout=log, stderr=log)


def wait_for_api(
    url: str, *, proc: subprocess.Popen | None = None, timeout_s: float = 120.0
) -> None:
    """Wait until ``url`` answers 200 (importing the app takes a while on a busy machine).

    Raises RuntimeError when ``proc`` exits first or the time is up.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the API exited with {proc.returncode} before answering")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the API did not answer {url} within {timeout_s:.0f} s")


class CpuMeter:
    """CPU seconds used from now on by the API's processes, the database cluster's and
    this process (the phones' client), and by everything else on the machine."""

    def __init__(self, api_pid: int, admin: Engine) -> None:
        import psutil

        with admin.connect() as conn:
            data = conn.exec_driver_sql("SHOW data_directory").scalar_one()
        self.postmaster = int(Path(data, "postmaster.pid").read_text().split()[0])
        self.api_pid, self._psutil = api_pid, psutil
        self.start = self._now()

    def _tree(self, pid: int) -> float:
        psutil = self._psutil
        total = 0.0
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            pass
        return total

    def _now(self) -> dict[str, float]:
        me = self._psutil.Process().cpu_times()
        every = self._psutil.cpu_times()
        return {
            "api": self._tree(self.api_pid),
            "postgres": self._tree(self.postmaster),
            "client": me.user + me.system,
            "machine": every.user + every.system + every.nice + every.irq + every.softirq,
        }

    def used(self) -> dict[str, float]:
        now = self._now()
        used = {k: now[k] - self.start[k] for k in now}
        used["other"] = max(used["machine"] - used["api"] - used["postgres"] - used["client"], 0)
        return used
