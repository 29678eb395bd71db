"""Issue 13, finding 1 (and issue 12's `db url`): only the owner gets into the managed cluster.

Before: ``initdb --auth-local=trust``, a 0755 socket directory and a 0777
socket, so any local account (``nobody``) was superuser without a password and
could run OS commands with ``COPY … TO PROGRAM``; the app logged in as that
superuser; ``gridgov db url`` printed a ``postgresql+psycopg://`` URL that psql
rejects; the server ran ``synchronous_commit=off`` for every session.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from layers import cluster
from layers.cluster_auth import APP_USER
from tests.scratch_cluster import env_for, scratch_cluster

ROOT = Path(__file__).resolve().parents[2]
PSQL = shutil.which("psql") or str(cluster.find_bindir() / "psql")


@pytest.fixture(scope="module")
def home():
    with scratch_cluster() as paths:
        yield paths


def _psql_as(user: str | None, *args: str) -> subprocess.CompletedProcess:
    cmd = [PSQL, "-w", "-X", "-tA", *args]
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd="/tmp")


def _gridgov(paths, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        env=env_for(paths),
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_nobody_is_refused_on_the_socket_and_on_loopback(home):
    port = str(cluster.port(home))
    for database_user in ("gridgov", APP_USER, "nobody"):
        on_socket = _psql_as(
            "nobody", "-h", str(home.run), "-p", port, "-U", database_user, "-c", "select 1"
        )
        assert on_socket.returncode != 0 and on_socket.stdout.strip() != "1"
        assert "Permission denied" in on_socket.stderr or "failed" in on_socket.stderr
        on_tcp = _psql_as(
            "nobody", "-h", "127.0.0.1", "-p", port, "-U", database_user, "-c", "select 1"
        )
        assert on_tcp.returncode != 0, on_tcp.stdout
        assert "password" in on_tcp.stderr


def test_socket_directory_and_secrets_are_the_owners_only(home):
    assert home.run.stat().st_mode & 0o777 == 0o700
    assert home.home.stat().st_mode & 0o077 == 0
    for secret in (home.password_file, home.app_password_file):
        assert secret.stat().st_mode & 0o777 == 0o600
    hba = (home.data / "pg_hba.conf").read_text()
    assert "trust" not in hba
    assert "peer map=gridgov" in hba and "scram-sha-256" in hba


def test_db_url_works_with_psql_as_root_and_as_the_owner(home):
    url = _gridgov(home, "db", "url")
    assert url.startswith("postgresql://gridgov:")
    as_root = _psql_as(None, url, "-c", "select current_user")
    assert as_root.returncode == 0, as_root.stderr
    assert as_root.stdout.strip() == "gridgov"
    # the service account can read the credentials file; with the URL psql gets in
    as_owner = _psql_as(cluster.SERVICE_USER, url, "-c", "select 1")
    assert as_owner.returncode == 0, as_owner.stderr
    assert _gridgov(home, "db", "url", "--sqlalchemy").startswith("postgresql+psycopg://")
    app = _gridgov(home, "db", "url", "--app")
    assert _psql_as(None, app, "-c", "select current_user").stdout.strip() == APP_USER


def test_the_app_login_is_no_superuser_and_cannot_regain_rights(home):
    from layers import migrate

    admin = sa.create_engine(cluster.url(home))
    migrate.upgrade(admin)
    admin.dispose()
    engine = sa.create_engine(cluster.url(home, login="app"))
    try:
        with engine.connect() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT rolsuper, rolinherit, rolbypassrls FROM pg_roles "
                    "WHERE rolname = current_user"
                )
            ).one()
            assert tuple(row) == (False, False, False)
            assert conn.execute(sa.text("SHOW synchronous_commit")).scalar() == "on"
        for escape in (
            "SELECT count(*) FROM reporters",
            "COPY (SELECT 1) TO PROGRAM 'id'",
            "SELECT count(*) FROM cases",
        ):
            with engine.connect() as conn, conn.begin():
                conn.execute(sa.text("SELECT set_config('role', 'gridgov_operator', true)"))
                conn.execute(sa.text("RESET ROLE"))
                with pytest.raises(
                    sa.exc.ProgrammingError, match=r"permission denied|must be superuser"
                ):
                    conn.execute(sa.text(escape))
    finally:
        engine.dispose()


def test_an_old_trusting_cluster_is_upgraded_in_place_by_db_up(home):
    # what an older GridGov left: trust on the socket, open directory, async commits
    (home.data / "pg_hba.conf").write_text(
        "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
    )
    home.run.chmod(0o755)
    cluster.down(home)
    opts = cluster._server_options(home, cluster.port(home)).replace(
        "-c unix_socket_permissions=0700", "-c synchronous_commit=off"
    )
    subprocess.run(
        cluster._as_service_user(
            [
                str(cluster.find_bindir() / "pg_ctl"),
                "start",
                "-w",
                "-D",
                str(home.data),
                "-l",
                str(home.log),
                "-o",
                opts,
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = str(cluster.port(home))
    # the defect, reproduced: nobody is superuser through the socket
    home.home.chmod(0o755)
    home.run.chmod(0o755)
    before = _psql_as("nobody", "-h", str(home.run), "-p", port, "-U", "gridgov", "-c", "select 1")
    assert before.returncode == 0, before.stderr
    assert cluster.up(home) == "restarted with new settings"
    after = _psql_as("nobody", "-h", str(home.run), "-p", port, "-U", "gridgov", "-c", "select 1")
    assert after.returncode != 0
    assert home.run.stat().st_mode & 0o777 == 0o700
    assert "trust" not in (home.data / "pg_hba.conf").read_text()
    engine = sa.create_engine(cluster.url(home))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW synchronous_commit")).scalar() == "on"
    engine.dispose()
    assert cluster.up(home) == "already running"
