"""A managed cluster of its own for a test module: own home under /tmp, own free port.

Used where a test must see the cluster as a user meets it (who may connect, what
``gridgov db url`` prints) or must crash it (``kill -9``) without touching the
cluster the rest of the suite runs on.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from layers import cluster


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def scratch_cluster() -> Iterator[cluster.ClusterPaths]:
    """Create and start a cluster (GRIDGOV_HOME and GRIDGOV_DB_PORT set meanwhile); remove it."""
    top = Path(tempfile.mkdtemp(prefix="gridgov-scratch-", dir="/tmp"))
    top.chmod(0o755)  # the service user must reach the home below
    paths = cluster.ClusterPaths(top / "home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRIDGOV_HOME", str(paths.home))
        mp.setenv("GRIDGOV_DB_PORT", str(free_port()))
        mp.delenv("DATABASE_URL", raising=False)
        try:
            cluster.up(paths)
            yield paths
        finally:
            try:
                cluster.down(paths)
            finally:
                shutil.rmtree(top, ignore_errors=True)


def env_for(paths: cluster.ClusterPaths) -> dict[str, str]:
    """The environment a subprocess needs to talk to the scratch cluster as `gridgov …` does."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["GRIDGOV_HOME"] = str(paths.home)
    env["GRIDGOV_DB_PORT"] = str(cluster.port(paths))
    return env
