"""Logging in: who the user is, which role and area every later unit of work takes."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from layers.auth import LOGIN_ROLES, User, authenticate
from layers.workflow.access import Scope

__all__ = ["LOGIN_ROLES", "Scope", "User", "login"]


def login(engine: Engine, *, username: str, password: str) -> User | None:
    """The user for a name and password, or None (read with the application's own login)."""
    with engine.connect() as conn:
        return authenticate(conn=conn, username=username, password=password)
