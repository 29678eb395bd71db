"""Schema migrations: Alembic, driven from Python (``gridgov db migrate``)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, Engine

from city import time_zone

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at GridGov's migrations (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(bind: Engine | Connection, revision: str = "heads") -> None:
    """Upgrade the schema to ``revision`` (default: every head — feature branches of the
    schema may sit side by side); then refresh the city settings SQL reads from the profile."""
    _run(bind, command.upgrade, revision)
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            sync_city_settings(conn)
            ensure_partitions(conn)
    else:
        sync_city_settings(bind)
        ensure_partitions(bind)


def ensure_partitions(conn: Connection) -> None:
    """The monthly partitions from this month to :data:`layers.partitions.MONTHS_AHEAD`
    months ahead (after migration 0100; nothing before it)."""
    from layers import partitions

    if partitions.is_partitioned(conn):
        partitions.ensure(conn)


def sync_city_settings(conn: Connection) -> None:
    """Write the city's settings that SQL needs (the time zone) into ``city_settings``.

    The zone is the one ``gridgov city init`` stored in the ``city`` table when there is
    such a row, else the city profile's. Does nothing before migration 0050 created the
    table.
    """
    if conn.execute(sa.text("SELECT to_regclass('public.city_settings')")).scalar() is None:
        return
    zone = time_zone().key
    if conn.execute(sa.text("SELECT to_regclass('public.city')")).scalar() is not None:
        zone = conn.execute(sa.text("SELECT timezone FROM city WHERE id = 1")).scalar() or zone
    conn.execute(
        sa.text("""INSERT INTO city_settings (key, value) VALUES ('time_zone', :tz)
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value
                   WHERE city_settings.value IS DISTINCT FROM excluded.value"""),
        {"tz": zone},
    )


def downgrade(bind: Engine | Connection, revision: str = "base") -> None:
    """Downgrade the schema to ``revision`` (default: nothing left)."""
    _run(bind, command.downgrade, revision)


def current_revision(bind: Engine | Connection) -> str | None:
    """The revision(s) the database is at ("a+b" for several heads), or None when empty."""
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return current_revision(conn)
    heads = MigrationContext.configure(bind).get_current_heads()
    return "+".join(sorted(heads)) or None


def head_revision() -> str:
    """The newest revision(s) shipped with this code ("a+b" for several heads)."""
    from alembic.script import ScriptDirectory

    return "+".join(sorted(ScriptDirectory.from_config(alembic_config()).get_heads()))


def _run(bind: Engine | Connection, fn, revision: str) -> None:  # type: ignore[no-untyped-def]
    cfg = alembic_config()
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            cfg.attributes["connection"] = conn
            fn(cfg, revision)
    else:
        cfg.attributes["connection"] = bind
        fn(cfg, revision)
