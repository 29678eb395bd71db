"""Which database GridGov talks to, and the engine that talks to it.

``DATABASE_URL`` set: that server, and GridGov never starts its own.
``DATABASE_URL`` unset: the managed local cluster (:mod:`layers.cluster`).
"""

from __future__ import annotations

import os
from functools import cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from gis.errors import GridGovError
from layers import cluster


class DatabaseError(GridGovError, RuntimeError):
    """The database cannot be used; the message says what to do."""

    code = "database"
    kind = "unavailable"


def normalise_url(raw: str) -> str:
    """Return ``raw`` as a SQLAlchemy URL that uses the psycopg 3 driver.

    Raises
    ------
    DatabaseError
        When ``raw`` is not a PostgreSQL URL.
    """
    if raw.startswith("postgres://"):  # the short scheme many hosting platforms hand out
        raw = "postgresql://" + raw.removeprefix("postgres://")
    try:
        parsed = make_url(raw)
    except ArgumentError as exc:
        raise DatabaseError(
            f"DATABASE_URL={raw!r} is not a database URL; expected "
            "postgresql://user:password@host:port/dbname."
        ) from exc
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseError(
            f"DATABASE_URL uses {parsed.get_backend_name()!r}; GridGov needs PostgreSQL with "
            "PostGIS (postgresql://…)."
        )
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def libpq_url(raw: str) -> str:
    """``raw`` in the form libpq clients (psql, QGIS, ogr2ogr) accept: ``postgresql://…``."""
    return (
        make_url(normalise_url(raw))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def uses_managed_cluster() -> bool:
    """True when ``DATABASE_URL`` is unset and GridGov runs its own cluster."""
    return not os.environ.get("DATABASE_URL")


def database_url(*, start: bool = True, database: str | None = None, login: str = "admin") -> str:
    """Resolve the database URL, starting the managed cluster when needed.

    Parameters
    ----------
    start
        Start the managed cluster if it is not running (ignored with ``DATABASE_URL``).
    database
        Another database name on the same server (used by tests).
    login
        For the managed cluster: ``"admin"`` (the superuser: CLI, migrations, loads) or
        ``"app"`` (``gridgov_app``, a non-superuser: the dashboard and the API). With
        ``DATABASE_URL`` set both are that URL, which should be a non-superuser member of
        ``gridgov_app`` for the app (``gridgov db status`` warns otherwise).
    """
    if raw := os.environ.get("DATABASE_URL"):
        resolved = normalise_url(raw)
    else:
        if start:
            cluster.up()
        resolved = cluster.url(login=login)
    if database:
        resolved = make_url(resolved).set(database=database).render_as_string(hide_password=False)
    return resolved


POOL_SIZE = 10
"""Connections an engine keeps open between bursts. A tile map's first render asks for
8 tiles at once (a browser's six connections, two operators twelve): with 5 kept, every
such burst closed the extra connections and the next one opened them again, each new
one paying its connect (~20-50 ms) and PostGIS's loading on its first tile (~50 ms)."""
MAX_OVERFLOW = 10
"""Connections opened beyond :data:`POOL_SIZE` when more are busy at once (closed again
when given back)."""


@cache
def engine_for(url: str) -> Engine:
    """One pooled engine per URL for the life of the process (:data:`POOL_SIZE` kept,
    :data:`MAX_OVERFLOW` more at once).

    Unbounded on purpose: an engine dropped from a bounded cache is garbage-collected
    with its pooled connections still open (psycopg warns, at some random later moment).
    A process uses a handful of URLs.
    """
    return sa.create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW)


def get_engine(*, database: str | None = None) -> Engine:
    """The administrator's engine (CLI, migrations, loads), checked to be reachable."""
    engine = engine_for(database_url(database=database))
    check_connection(engine)
    return engine


def get_app_engine(*, database: str | None = None) -> Engine:
    """The engine of the dashboard and the API: a non-superuser login (``gridgov_app``).

    Every unit of work then acts as one ``gridgov_*`` role through
    :func:`layers.workflow.access.act_as`, so row-level security applies and a
    ``RESET ROLE`` regains nothing but the login's own few reads.
    """
    engine = engine_for(database_url(database=database, login="app"))
    check_connection(engine)
    return engine


def login_is_superuser(engine: Engine) -> bool:
    """True when ``engine`` logs in as a superuser or a role that bypasses row-level security."""
    with engine.connect() as conn:
        return bool(
            conn.execute(
                sa.text(
                    "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
                )
            ).scalar()
        )


def check_connection(engine: Engine) -> None:
    """Raise :class:`DatabaseError` with one actionable sentence if unreachable."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        where = engine.url.render_as_string(hide_password=True)
        hint = (
            "check DATABASE_URL, or unset it to use GridGov's own database"
            if os.environ.get("DATABASE_URL")
            else "run `gridgov db status`"
        )
        raise DatabaseError(f"Cannot connect to {where} ({reason}): {hint}.") from exc
