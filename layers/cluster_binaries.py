"""The PostgreSQL server binaries and PostGIS the managed cluster runs on."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from gis.errors import GridGovError


class ClusterError(GridGovError, RuntimeError):
    """The managed cluster cannot be used; the message says what to do."""

    code = "cluster"
    kind = "unavailable"


def find_bindir() -> Path:
    """Locate the PostgreSQL server binaries (``initdb``, ``pg_ctl``, ``postgres``).

    Raises
    ------
    ClusterError
        When no PostgreSQL server is installed.
    """
    if env := os.environ.get("GRIDGOV_PG_BINDIR"):
        candidates = [Path(env)]
    else:
        candidates = sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
        if found := shutil.which("pg_ctl"):
            candidates.append(Path(found).resolve().parent)
    for bindir in candidates:
        if all((bindir / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise ClusterError(
        "The PostgreSQL server is not installed (no initdb/pg_ctl found): run `make setup`, or "
        "`apt-get install postgresql-15 postgresql-15-postgis-3`, or set DATABASE_URL to an "
        "existing PostGIS server."
    )


def _sharedir(bindir: Path) -> Path:
    version = bindir.parent.name
    candidates = [Path("/usr/share/postgresql") / version, bindir.parent / "share"]
    pg_config = bindir / "pg_config"
    if pg_config.exists():
        out = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.insert(0, Path(out.stdout.strip()))
    for share in candidates:
        if (share / "extension").is_dir():
            return share
    return candidates[0]


def check_postgis(bindir: Path) -> None:
    """Raise :class:`ClusterError` unless PostGIS is installed for this server."""
    share = _sharedir(bindir)
    if not (share / "extension" / "postgis.control").exists():
        version = bindir.parent.name
        raise ClusterError(
            f"PostGIS is not installed for PostgreSQL {version}: run `make setup` or "
            f"`apt-get install postgresql-{version}-postgis-3`."
        )
