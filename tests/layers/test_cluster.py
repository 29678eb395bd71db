"""GridGov's own PostgreSQL cluster: idempotent, loopback only, clear when it cannot work."""

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from layers import cluster


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def scratch_home(monkeypatch):
    """A cluster home of its own (reachable by the service user), on a free port."""
    home = Path(tempfile.mkdtemp(prefix="gridgov-cluster-", dir="/tmp"))
    home.chmod(0o755)
    monkeypatch.setenv("GRIDGOV_HOME", str(home / "home"))
    monkeypatch.setenv("GRIDGOV_DB_PORT", str(_free_port()))
    yield cluster.ClusterPaths(home / "home")
    try:
        cluster.down(cluster.ClusterPaths(home / "home"))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_up_twice_down_twice(scratch_home):
    assert cluster.status(scratch_home) == "absent"
    assert cluster.up(scratch_home) == "started"
    assert cluster.up(scratch_home) == "already running"
    assert cluster.status(scratch_home) == "running"
    conf = (scratch_home.data / "postmaster.opts").read_text()
    assert "listen_addresses='127.0.0.1'" in conf or "listen_addresses=127.0.0.1" in conf
    assert cluster.down(scratch_home) == "stopped"
    assert cluster.down(scratch_home) == "not running"
    assert cluster.status(scratch_home) == "stopped"


def test_only_loopback_is_listened_on(scratch_home):
    cluster.up(scratch_home)
    import sqlalchemy as sa

    engine = sa.create_engine(cluster.url(scratch_home))
    with engine.connect() as conn:
        listen = conn.execute(sa.text("SHOW listen_addresses")).scalar_one()
        jit = conn.execute(sa.text("SHOW jit")).scalar_one()  # the server's own setting
        postgis = conn.execute(
            sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")
        ).scalar_one()
    engine.dispose()
    assert listen == "127.0.0.1"
    assert jit == "off"
    assert postgis == 1


def test_a_port_in_use_is_reported(scratch_home):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        os.environ["GRIDGOV_DB_PORT"] = str(blocker.getsockname()[1])
        with pytest.raises(cluster.ClusterError, match="already in use by another program"):
            cluster.up(scratch_home)
    assert cluster.status(scratch_home) == "stopped"


def test_a_data_directory_owned_by_someone_else_is_refused(scratch_home):
    scratch_home.data.mkdir(parents=True)
    os.chown(scratch_home.data, 65534, 65534)  # nobody
    with pytest.raises(cluster.ClusterError, match="belongs to user"):
        cluster.up(scratch_home)


def test_missing_server_and_missing_postgis_are_named(tmp_path, monkeypatch, scratch_home):
    monkeypatch.setenv("GRIDGOV_PG_BINDIR", str(tmp_path))
    with pytest.raises(cluster.ClusterError, match="PostgreSQL server is not installed"):
        cluster.up(scratch_home)
    fake = tmp_path / "99" / "bin"
    fake.mkdir(parents=True)
    for tool in ("initdb", "pg_ctl", "postgres"):
        (fake / tool).write_text("#!/bin/sh\n")
    monkeypatch.setenv("GRIDGOV_PG_BINDIR", str(fake))
    with pytest.raises(cluster.ClusterError, match="PostGIS is not installed for PostgreSQL 99"):
        cluster.up(scratch_home)


def test_a_bad_port_setting_is_named(monkeypatch):
    monkeypatch.setenv("GRIDGOV_DB_PORT", "eighty")
    with pytest.raises(cluster.ClusterError, match="not a port number"):
        cluster.port()


def test_a_new_cluster_moves_past_a_busy_default_port(scratch_home, monkeypatch):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        monkeypatch.delenv("GRIDGOV_DB_PORT")
        monkeypatch.setattr(cluster, "DEFAULT_PORT", busy)
        assert cluster.up(scratch_home) == "started"
        assert cluster.port(scratch_home) > busy
        assert f":{cluster.port(scratch_home)}/" in cluster.url(scratch_home)
