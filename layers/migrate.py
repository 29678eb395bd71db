"""Schema migrations: Alembic, driven from Python (``gridgov db migrate``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, Engine

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
    schema may sit side by side)."""
    _run(bind, command.upgrade, revision)


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
