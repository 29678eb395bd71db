"""A real multi-process Dask cluster for the tests: `dask scheduler` and two single-threaded
`dask worker` processes on loopback, started once per test session (the fixture
``dask_cluster``, its address; registered in tests/conftest.py)."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DASK = str(Path(sys.executable).with_name("dask"))
WARM = ("gis.delineate", "gis.coverage_parts", "layers.ingest.assignment")
"""Modules the workers import before the first test (a cold import compiles every module
when bytecode is not cached: seconds on a busy machine)."""


def tasks_done(address: str, prefix: str) -> int:
    """How many tasks named ``prefix`` (their function's name) the scheduler has seen
    finish so far: proof that a command ran its parts on the cluster."""
    from distributed import Client

    def finished(dask_scheduler):  # type: ignore[no-untyped-def]
        # a closure: pickled by value (the scheduler cannot import the tests)
        task_prefix = dask_scheduler.task_prefixes.get(prefix)
        return 0 if task_prefix is None else int(task_prefix.state_counts.get("memory", 0))

    with Client(address, timeout=10) as client:
        return int(client.run_on_scheduler(finished))


def _wait_for(path: Path, procs: list[subprocess.Popen], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists() or not path.read_text().strip():
        for proc in procs:
            assert proc.poll() is None, f"{proc.args} exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{path} not written in {timeout_s} s"
        time.sleep(0.2)


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A scheduler and two single-threaded workers, each its own process; the address."""
    where = tmp_path_factory.mktemp("dask")
    info = where / "scheduler.json"
    common = ["--no-dashboard"]
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    DASK,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--scheduler-file",
                    str(info),
                    *common,
                ],
                cwd=where,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        _wait_for(info, procs)
        address = json.loads(info.read_text())["address"]
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        DASK,
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--name",
                        f"w{i}",
                        "--local-directory",
                        str(where / f"w{i}"),
                        *common,
                    ],
                    cwd=where,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=30)
            pids = client.run(os.getpid)
            for module in WARM:  # what the tasks import, once per worker, here
                client.run(importlib.import_module, module)
        assert len(set(pids.values()) | {os.getpid()}) == 3  # three processes, not threads
        yield address
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
