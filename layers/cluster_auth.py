"""Who may connect to the managed cluster, and with which credentials.

The managed cluster is reachable only by its owner:

- the Unix socket directory is 0700 and owned by the server's account, the
  socket itself 0700, and ``pg_hba.conf`` maps only the server's account (and
  root, who can read the data directory anyway) to the superuser with ``peer``;
- TCP on 127.0.0.1 needs a password (``scram-sha-256``); the passwords are
  random, made when the cluster is created, and kept in the cluster home with
  mode 0600: ``password`` for the superuser ``gridgov`` (administration,
  migrations, bulk loads) and ``app_password`` for ``gridgov_app``, the login
  the dashboard and the API use. ``gridgov_app`` is ``NOSUPERUSER NOINHERIT``: it
  holds nothing itself but a few reads, and works only through ``SET ROLE`` to
  one of the ``gridgov_*`` workflow roles it is a member of.

:func:`write_auth_config` rewrites ``pg_hba.conf`` and ``pg_ident.conf`` on
every ``gridgov db up``, so a cluster made by an older version (``trust`` on
the socket) is upgraded in place.
"""

from __future__ import annotations

import os
import pwd
import secrets
from pathlib import Path

APP_USER = "gridgov_app"
"""The non-superuser login of the dashboard and the API."""

HBA_MARKER = "# managed by GridGov (layers/cluster_auth.py)"

# The workflow roles the app login may SET ROLE to (created by migration 0002).
_GRANT_WORKFLOW_ROLES = """
DO $gg$
DECLARE r text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridgov_app') THEN
        CREATE ROLE gridgov_app LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
    ALTER ROLE gridgov_app LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    FOR r IN SELECT rolname FROM pg_roles
             WHERE rolname LIKE 'gridgov\\_%' AND rolname <> 'gridgov_app' AND NOT rolcanlogin
    LOOP
        EXECUTE format('GRANT %I TO gridgov_app', r);
    END LOOP;
END $gg$;
"""


def hba_text() -> str:
    """``pg_hba.conf``: peer (mapped) on the socket, scram-sha-256 on 127.0.0.1, nothing else."""
    return (
        f"{HBA_MARKER}: rewritten by every `gridgov db up`\n"
        "# TYPE  DATABASE  USER         ADDRESS        METHOD\n"
        f"local   all       {APP_USER}                  scram-sha-256\n"
        "local   all       all                         peer map=gridgov\n"
        "host    all       all          127.0.0.1/32   scram-sha-256\n"
    )


def ident_text(server_user: str, superuser: str) -> str:
    """``pg_ident.conf``: the server's account (and root) may log in as the superuser."""
    lines = [f"{HBA_MARKER}: OS user -> database user for `peer` on the socket"]
    for os_user in dict.fromkeys([server_user, "root"]):
        lines.append(f"gridgov  {os_user}  {superuser}")
    return "\n".join(lines) + "\n"


def write_auth_config(data: Path, *, server_user: str, superuser: str) -> bool:
    """Write ``pg_hba.conf`` and ``pg_ident.conf`` into ``data``; True when either changed."""
    owner = data.stat()
    changed = False
    for name, text in (
        ("pg_hba.conf", hba_text()),
        ("pg_ident.conf", ident_text(server_user, superuser)),
    ):
        path = data / name
        if path.exists() and path.read_text() == text:
            continue
        tmp = data / f"{name}.gridgov.tmp"
        tmp.write_text(text)
        tmp.chmod(0o600)
        os.chown(tmp, owner.st_uid, owner.st_gid)
        tmp.replace(path)
        changed = True
    return changed


def ensure_secret(path: Path) -> str:
    """The password kept in ``path`` (0600), made on first use."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(24))
    path.chmod(0o600)
    return path.read_text().strip()


def lock_down(home: Path, run: Path, secrets_: list[Path], owner: pwd.struct_passwd | None) -> None:
    """Home and socket directory 0700, secrets 0600, all owned by the server's account."""
    run.mkdir(parents=True, exist_ok=True)
    for path in (home, run, *[s for s in secrets_ if s.exists()]):
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)
        path.chmod(0o700 if path.is_dir() else 0o600)


def app_login_sql(password: str) -> str:
    """SQL that creates or updates ``gridgov_app`` with ``password`` and its role memberships.

    The password travels in the SQL text on psql's standard input, never on a
    command line another user could read in ``ps``.
    """
    literal = "'" + password.replace("'", "''") + "'"
    return _GRANT_WORKFLOW_ROLES + f"ALTER ROLE {APP_USER} PASSWORD {literal};\n"
