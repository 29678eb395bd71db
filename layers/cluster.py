"""GridGov's own PostgreSQL cluster, run like an embedded database.

When ``DATABASE_URL`` is unset, GridGov keeps a PostgreSQL cluster in a data
directory it owns and starts it on demand with the system's server binaries
(Debian: ``postgresql-15`` and ``postgresql-15-postgis-3``). The server listens
on 127.0.0.1 and on a Unix socket in its run directory, never on a public
address. ``initdb`` refuses to run as root, so when the user is root the
cluster belongs to an unprivileged system user (``gridgov``), created on first
use.

Every failure a user can meet (binaries missing, PostGIS missing, port in use,
data directory owned by someone else, server that will not start) raises
:class:`ClusterError` with one sentence saying what is wrong and what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from layers import cluster_auth
from layers.cluster_auth import APP_USER
from layers.cluster_binaries import ClusterError, check_postgis, find_bindir

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVICE_USER = "gridgov"
SUPERUSER = "gridgov"
DEFAULT_PORT = 54329
DATABASE_NAME = "gridgov"


@dataclass(frozen=True)
class ClusterPaths:
    """Where the managed cluster keeps its files."""

    home: Path

    @property
    def data(self) -> Path:
        return self.home / "pgdata"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def log(self) -> Path:
        return self.home / "postgresql.log"

    @property
    def password_file(self) -> Path:
        return self.home / "password"

    @property
    def app_password_file(self) -> Path:
        return self.home / "app_password"

    @property
    def port_file(self) -> Path:
        return self.home / "port"


def _is_root() -> bool:
    return os.geteuid() == 0


def default_home() -> Path:
    """Return the managed cluster's home directory.

    ``GRIDGOV_HOME`` wins. Otherwise ``.gridgov/`` in the project for normal
    users; for root, ``/var/lib/gridgov/<project hash>`` because the
    unprivileged service user may not be able to reach the project directory
    (e.g. under ``/root``).
    """
    if env := os.environ.get("GRIDGOV_HOME"):
        return Path(env).resolve()
    if _is_root():
        digest = hashlib.sha1(str(PROJECT_ROOT).encode()).hexdigest()[:10]
        return Path("/var/lib/gridgov") / f"{PROJECT_ROOT.name}-{digest}"
    return PROJECT_ROOT / ".gridgov"


def port(paths: ClusterPaths | None = None) -> int:
    """TCP port of the managed cluster.

    ``GRIDGOV_DB_PORT`` wins; else the port chosen when the cluster was created
    (the first free one from 54329, kept in ``<home>/port``); else 54329.
    """
    raw = os.environ.get("GRIDGOV_DB_PORT")
    if raw is None:
        stored = (paths or ClusterPaths(default_home())).port_file
        raw = stored.read_text().strip() if stored.exists() else str(DEFAULT_PORT)
    if not raw.isdigit() or not 1024 <= int(raw) <= 65535:
        raise ClusterError(f"GRIDGOV_DB_PORT={raw!r} is not a port number between 1024 and 65535.")
    return int(raw)


def _choose_port(paths: ClusterPaths) -> None:
    """Remember a free port for a new cluster (another GridGov checkout may hold 54329)."""
    if "GRIDGOV_DB_PORT" in os.environ or paths.port_file.exists():
        return
    candidate = DEFAULT_PORT
    while _port_in_use(candidate) and candidate < DEFAULT_PORT + 100:
        candidate += 1
    paths.port_file.write_text(str(candidate))


def _service_user() -> pwd.struct_passwd | None:
    """The account the server runs as: ``gridgov`` when root, else the caller."""
    if not _is_root():
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_USER)


def _as_service_user(cmd: list[str]) -> list[str]:
    user = _service_user()
    if user is None:
        return cmd
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", user.pw_name, "--", *cmd]


def _expected_uid() -> int:
    user = _service_user()
    return user.pw_uid if user else os.geteuid()


def _check_ownership(paths: ClusterPaths) -> None:
    if not paths.data.exists():
        return
    owner = paths.data.stat().st_uid
    if owner != _expected_uid():
        try:
            name = pwd.getpwuid(owner).pw_name
        except KeyError:
            name = str(owner)
        raise ClusterError(
            f"The data directory {paths.data} belongs to user {name!r}, not to "
            f"{pwd.getpwuid(_expected_uid()).pw_name!r}: set GRIDGOV_HOME to another directory, "
            "or fix its ownership."
        )


def _port_in_use(port_number: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port_number)) == 0


def _initdb(bindir: Path, paths: ClusterPaths) -> None:
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.run.mkdir(exist_ok=True)
    cluster_auth.ensure_secret(paths.password_file)
    user = _service_user()
    staging = paths.home / "pgdata.initdb"
    shutil.rmtree(staging, ignore_errors=True)
    pwfile = paths.home / "pwfile.tmp"
    pwfile.unlink(missing_ok=True)
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(paths.password_file.read_text())
    if user is not None:
        os.chown(paths.home, user.pw_uid, user.pw_gid)
        os.chown(paths.run, user.pw_uid, user.pw_gid)
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    try:
        # initdb into a staging directory and rename at the end: a crash or ^C
        # half-way never leaves a half-initialised data directory behind.
        result = subprocess.run(
            _as_service_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(staging),
                    "-U",
                    SUPERUSER,
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    # peer on the socket, a password on TCP; pg_hba.conf is then
                    # rewritten by cluster_auth (a map lets root in as well)
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                ]
            ),
            capture_output=True,
            text=True,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise ClusterError(f"initdb failed: {result.stderr.strip().splitlines()[-1:]}")
    staging.rename(paths.data)


def _server_options(paths: ClusterPaths, port_number: int) -> str:
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port_number),
        "unix_socket_directories": f"'{paths.run}'",
        "shared_buffers": "'512MB'",
        "work_mem": "'64MB'",
        "maintenance_work_mem": "'512MB'",
        "max_wal_size": "'4GB'",
        # a 201 means the report is on disk: synchronous_commit stays on (the
        # default); only bulk loads turn it off, inside their own transaction
        # (SET LOCAL). Group commit keeps many small concurrent commits cheap.
        "commit_delay": "200",
        "commit_siblings": "2",
        "unix_socket_permissions": "0700",
        # an embedded, single-node database: no replicas, so bulk loads into
        # tables truncated in the same transaction can skip the WAL
        "wal_level": "minimal",
        "max_wal_senders": "0",
        "max_connections": "200",
        # no JIT: a query over the month partitions of cases is one plan node per
        # month, and compiling them cost seconds where the query ran in less (the
        # unrouted cases after a load: 4.6 s with JIT, of which 4 s compiling)
        "jit": "off",
    }
    return " ".join(f"-c {key}={value}" for key, value in settings.items())


def status(paths: ClusterPaths | None = None) -> str:
    """Return ``"running"``, ``"stopped"`` or ``"absent"`` for the managed cluster."""
    paths = paths or ClusterPaths(default_home())
    if not (paths.data / "PG_VERSION").exists():
        return "absent"
    bindir = find_bindir()
    result = subprocess.run(
        _as_service_user([str(bindir / "pg_ctl"), "status", "-D", str(paths.data)]),
        capture_output=True,
        text=True,
    )
    if result.returncode == 0 and not _postmaster_alive(paths):
        return "stopped"  # a killed server not yet reaped (a zombie) is not running
    return "running" if result.returncode == 0 else "stopped"


def _postmaster_alive(paths: ClusterPaths, lock: Path | None = None) -> bool:
    """True when the PID in ``postmaster.pid`` (or ``lock``) is a live, not zombie, process."""
    try:
        pid = int((lock or paths.data / "postmaster.pid").read_text().split()[0])
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return False
    return state not in ("Z", "X")


def up(paths: ClusterPaths | None = None, *, timeout_s: float = 60) -> str:
    """Start the managed cluster (creating it on first use); idempotent.

    Returns
    -------
    str
        ``"started"`` or ``"already running"``.
    """
    paths = paths or ClusterPaths(default_home())
    bindir = find_bindir()
    check_postgis(bindir)
    _check_ownership(paths)
    if not (paths.data / "PG_VERSION").exists():
        _initdb(bindir, paths)
        _choose_port(paths)
    port_number = port(paths)
    hba_changed = _secure(paths)
    if status(paths) == "running":
        return _upgrade_running(bindir, paths, port_number, hba_changed)
    _start(bindir, paths, port_number, timeout_s)
    _ensure_database(bindir, paths, port_number)
    return "started"


def _secure(paths: ClusterPaths) -> bool:
    """Lock the home down and (re)write the auth config; True when pg_hba/pg_ident changed."""
    cluster_auth.ensure_secret(paths.app_password_file)
    user = _service_user()
    cluster_auth.lock_down(
        paths.home, paths.run, [paths.password_file, paths.app_password_file], user
    )
    server_user = user.pw_name if user else pwd.getpwuid(os.geteuid()).pw_name
    return cluster_auth.write_auth_config(paths.data, server_user=server_user, superuser=SUPERUSER)


def _upgrade_running(bindir: Path, paths: ClusterPaths, port_number: int, hba_changed: bool) -> str:
    """Bring a running cluster (maybe started by an older version) to today's settings."""
    opts_file = paths.data / "postmaster.opts"
    opts = opts_file.read_text() if opts_file.exists() else ""
    wanted = _server_options(paths, port_number).split(" -c ")
    stale = "synchronous_commit=off" in opts or any(
        w.removeprefix("-c ").replace("'", "") not in opts for w in wanted
    )
    if stale:  # e.g. synchronous_commit=off or a 0777 socket on the old command line
        down(paths)
        _start(bindir, paths, port_number, 60)
    elif hba_changed:
        subprocess.run(
            _as_service_user([str(bindir / "pg_ctl"), "reload", "-D", str(paths.data)]),
            check=True,
            capture_output=True,
        )
    _ensure_database(bindir, paths, port_number)
    return "restarted with new settings" if stale else "already running"


def _start(bindir: Path, paths: ClusterPaths, port_number: int, timeout_s: float) -> None:
    # lock files left by a server killed with SIGKILL whose PID is still a zombie:
    # postgres would take them for a running server and refuse to start
    for lock in (paths.data / "postmaster.pid", paths.run / f".s.PGSQL.{port_number}.lock"):
        if lock.exists() and not _postmaster_alive(paths, lock):
            lock.unlink()
    if _port_in_use(port_number):
        raise ClusterError(
            f"Port {port_number} on 127.0.0.1 is already in use by another program: stop it, "
            "or set GRIDGOV_DB_PORT to a free port."
        )
    result = subprocess.run(
        _as_service_user(
            [
                str(bindir / "pg_ctl"),
                "start",
                "-w",
                "-t",
                str(int(timeout_s)),
                "-D",
                str(paths.data),
                "-l",
                str(paths.log),
                "-o",
                _server_options(paths, port_number),
            ]
        ),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        tail = ""
        with contextlib.suppress(OSError):
            tail = paths.log.read_text().strip().splitlines()[-1]
        raise ClusterError(
            f"PostgreSQL did not start ({tail or result.stderr.strip()}); see {paths.log}."
        )


def _ensure_database(bindir: Path, paths: ClusterPaths, port_number: int) -> None:
    psql = [
        str(bindir / "psql"),
        "-h",
        str(paths.run),
        "-p",
        str(port_number),
        "-U",
        SUPERUSER,
        "-d",
        "postgres",
        "-tAc",
    ]
    deadline = time.monotonic() + 30
    while True:  # after a crash the server may still be replaying its WAL
        exists = subprocess.run(
            _as_service_user([*psql, f"SELECT 1 FROM pg_database WHERE datname='{DATABASE_NAME}'"]),
            capture_output=True,
            text=True,
        )
        if exists.returncode == 0:
            break
        if time.monotonic() > deadline:
            raise ClusterError(f"PostgreSQL does not answer: {exists.stderr.strip()}")
        time.sleep(0.2)
    if exists.stdout.strip() != "1":
        subprocess.run(
            _as_service_user([*psql, f"CREATE DATABASE {DATABASE_NAME}"]),
            check=True,
            capture_output=True,
        )
    # the app's own login: created or brought up to date (password, memberships)
    sql = cluster_auth.app_login_sql(paths.app_password_file.read_text().strip())
    done = subprocess.run(
        _as_service_user([*psql[:-1], "-v", "ON_ERROR_STOP=1", "-q", "-f", "-"]),
        input=sql,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise ClusterError(f"Could not set up the app login {APP_USER}: {done.stderr.strip()}")


def down(paths: ClusterPaths | None = None) -> str:
    """Stop the managed cluster; idempotent. Returns ``"stopped"`` or ``"not running"``."""
    paths = paths or ClusterPaths(default_home())
    if status(paths) != "running":
        return "not running"
    bindir = find_bindir()
    subprocess.run(
        _as_service_user(
            [str(bindir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(paths.data)]
        ),
        check=True,
        capture_output=True,
    )
    return "stopped"


def url(
    paths: ClusterPaths | None = None,
    database: str = DATABASE_NAME,
    *,
    login: str = "admin",
    sqlalchemy: bool = True,
) -> str:
    """URL of the managed cluster (TCP on 127.0.0.1 with the login's password).

    Parameters
    ----------
    login
        ``"admin"``: the superuser (migrations, loads, the CLI as root);
        ``"app"``: ``gridgov_app``, the dashboard's and the API's non-superuser login.
    sqlalchemy
        True: ``postgresql+psycopg://…`` for SQLAlchemy; False: ``postgresql://…``,
        the form psql, QGIS and other libpq clients accept.

    Raises
    ------
    ClusterError
        The cluster (or this login's credentials file) does not exist yet, or cannot be read.
    """
    paths = paths or ClusterPaths(default_home())
    if login not in ("admin", "app"):
        raise ClusterError(f"login {login!r} is not admin or app")
    user, secret = (
        (SUPERUSER, paths.password_file)
        if login == "admin"
        else (APP_USER, paths.app_password_file)
    )
    if not secret.exists():
        raise ClusterError("The managed database has not been created yet: run `gridgov db up`.")
    try:
        password = quote(secret.read_text().strip(), safe="")
    except PermissionError as exc:
        raise ClusterError(
            f"{secret} is readable only by the database's owner: run this as root or as "
            f"{pwd.getpwuid(secret.stat().st_uid).pw_name}."
        ) from exc
    scheme = "postgresql+psycopg" if sqlalchemy else "postgresql"
    return f"{scheme}://{user}:{password}@127.0.0.1:{port(paths)}/{database}"
