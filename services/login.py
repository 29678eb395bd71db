"""Logging in: who the user is, which role and area every later unit of work takes."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from layers.auth import LOGIN_ROLES, User, is_active
from layers.login import LoginLocked, log_in, session_expired
from layers.workflow.access import Scope

__all__ = [
    "LOGIN_ROLES",
    "LoginLocked",
    "Scope",
    "User",
    "login",
    "session_expired",
    "still_logged_in",
]


def login(
    engine: Engine, *, username: str, password: str, address: str | None = None
) -> User | None:
    """The user for a name and password, or None; throttled, recorded and committed.

    Raises
    ------
    LoginLocked
        While the name or the address is locked out (:func:`layers.login.log_in`);
        the refused attempt is recorded too.
    """
    with engine.begin() as conn:
        try:
            return log_in(conn=conn, username=username, password=password, address=address)
        except LoginLocked:
            conn.commit()  # the refused attempt is recorded too
            raise


def still_logged_in(engine: Engine, *, username: str) -> bool:
    """True while the user may keep its session (exists, not disabled)."""
    with engine.connect() as conn:
        return is_active(conn=conn, username=username)
