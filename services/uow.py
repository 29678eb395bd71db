"""The unit of work: one transaction, acting as the user's scope (role, area, department)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine

from layers.db import get_app_engine
from layers.workflow.access import Scope, enter_scope

__all__ = ["Engine", "Scope", "open_engine", "unit_of_work"]


@contextmanager
def unit_of_work(
    engine: Engine, scope: Scope | None, *, write: bool = False
) -> Iterator[Connection]:
    """A connection inside one transaction that acts as ``scope`` for row-level security.

    Parameters
    ----------
    engine
        The database.
    scope
        The user's role, area and department (None: the login's own rights — only for
        the application's own reads, e.g. the login itself).
    write
        Commit when the block ends without an error; otherwise the transaction is
        rolled back (a read never leaves anything behind).

    Raises
    ------
    layers.workflow.errors.UnknownRole, layers.workflow.errors.BadValue
        A scope the database cannot take on.
    """
    with engine.connect() as conn, conn.begin() as tx:
        enter_scope(conn=conn, scope=scope)
        yield conn
        if not write:
            tx.rollback()


def open_engine() -> Engine:
    """The configured database as the application's own login (``DATABASE_URL``, else the
    managed local cluster's non-superuser ``gridgov_app``): row-level security applies."""
    return get_app_engine()
