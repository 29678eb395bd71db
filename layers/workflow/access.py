"""Roles and access: acting as a GridGov role, masked and unmasked reporters, API keys.

Each GridGov role maps to a PostgreSQL NOLOGIN group role (``gridgov_<role>``,
see :data:`layers.workflow.states.PG_ROLE`). A session acts as one with
:func:`act_as`, which calls the database's ``gridgov_enter()`` — it checks the
identity (a dashboard user or API client, unless the login is privileged) and
records role, area (a 9-digit street or 12-digit community code) and department
for the transaction — then runs ``SET LOCAL ROLE``; row-level security reads the
record. Everything is transaction-local: it ends with the caller's transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.workflow.errors import BadApiKey, BadValue, UnknownRole
from layers.workflow.states import PG_ROLE
from layers.workflow.transitions import refusals_as_errors

_AREA = re.compile(r"^(\d{9}|\d{12})$")


def act_as(
    *,
    conn: Connection,
    role: str,
    area: str | None = None,
    department_id: int | None = None,
    actor: str | None = None,
) -> None:
    """Act as ``role`` for the rest of the caller's transaction (``SET LOCAL ROLE``).

    The database's ``gridgov_enter()`` (migration 0013) checks the identity and
    records role, area, department and actor for this transaction, where the
    session cannot change them; row-level security and ``case_transition()``
    read that record, not a session setting.

    Parameters
    ----------
    area
        The street (9 digits) or community (12 digits) an area-scoped role works in.
        For a dashboard user the database takes it from the user's row (a caller may
        only narrow it).
    department_id
        The department a handler works for (for a dashboard user: from its row).
    actor
        Who acts: a dashboard username or an API client. Required when the login
        is not privileged (the app's ``gridgov_app``); a privileged login
        (superuser: CLI, loaders, tests) may leave it out.

    Raises
    ------
    UnknownRole, BadValue, RoleNotHeld, OutsideYourArea
        An unknown role, a malformed area, an identity that does not hold the role
        or area, or a second identity in one transaction.
    """
    if role not in PG_ROLE:
        raise UnknownRole(f"unknown role {role!r}; known: {', '.join(PG_ROLE)}")
    if area is not None and not _AREA.match(area):
        raise BadValue(f"area {area!r} is not a 9-digit street or 12-digit community code")
    # one round trip; the role name comes from gridgov_enter (workflow_roles), never
    # from the caller (set_config('role', …, true) is SET LOCAL ROLE)
    with refusals_as_errors(conn, savepoint=False):
        conn.execute(
            sa.text(
                "SELECT set_config('role', gridgov_enter(:r, :a, CAST(:d AS integer), :u), true)"
            ),
            {
                "r": role,
                "a": area,
                "d": None if department_id is None else int(department_id),
                "u": actor,
            },
        )


@contextmanager
def acting_as(
    *,
    conn: Connection,
    role: str,
    area: str | None = None,
    department_id: int | None = None,
) -> Iterator[None]:
    """Act as ``role`` inside the block only (SET LOCAL survives savepoints, so reset after).

    For a login that may switch roles (the API process, tests); a session that
    logs in as a role's member simply calls :func:`act_as` once.
    """
    act_as(conn=conn, role=role, area=area, department_id=department_id)
    try:
        yield
    finally:
        if conn.in_transaction() and not _aborted(conn):
            conn.execute(sa.text("RESET ROLE"))
            set_area(conn=conn, area=None)


def _aborted(conn: Connection) -> bool:
    raw = conn.connection.driver_connection
    return getattr(getattr(raw, "info", None), "transaction_status", 0) == 3  # INERROR


def set_area(*, conn: Connection, area: str | None, department_id: int | None = None) -> None:
    """Set the ``gridgov.area`` and ``gridgov.department`` settings (None clears them).

    Only a privileged session that has not entered (``act_as``) is scoped by these
    (loaders, tests); for the app's login they mean nothing: the area is the
    verified one recorded by ``gridgov_enter()``.
    """
    conn.execute(
        sa.text(
            "SELECT set_config('gridgov.area', :a, true), "
            "set_config('gridgov.department', :d, true)"
        ),
        {"a": area or "", "d": "" if department_id is None else str(int(department_id))},
    )


def masked_reporters(*, conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """Reporters of a case with name and phone masked (any role may read these)."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text(
                "SELECT name, phone, channel FROM reporters_masked WHERE case_id = :id ORDER BY id"
            ),
            {"id": case_id},
        ).mappings()
    ]


def reporter_contacts(
    *, conn: Connection, case_ids: list[int], actor: str, role: str, purpose: str = "view"
) -> list[dict[str, Any]]:
    """Unmasked reporter names and phones; the view or export is recorded and committed first.

    The record is written and committed in a short transaction of its own (a
    second connection of the same engine, acting as the same role and actor)
    before any row is read, so a caller that rolls back, or crashes, still
    leaves it. The database returns the rows only for such a committed record.

    Raises
    ------
    RoleForbidden
        The role sees reporters only masked.
    """
    if purpose not in ("view", "export"):
        raise BadValue(f"purpose {purpose!r} is not view or export")
    access_id = _record_access(conn, case_ids=case_ids, actor=actor, role=role, purpose=purpose)
    with refusals_as_errors(conn):
        rows = conn.execute(
            sa.text("SELECT case_id, name, phone, channel FROM reporter_contacts(:a)"),
            {"a": access_id},
        ).mappings()
        return [dict(r) for r in rows]


def _record_access(
    conn: Connection, *, case_ids: list[int], actor: str, role: str, purpose: str
) -> int:
    with conn.engine.connect() as audit, audit.begin():
        act_as(conn=audit, role=role, actor=actor)
        with refusals_as_errors(audit, savepoint=False):
            return int(
                audit.execute(
                    sa.text(
                        "SELECT personal_data_access_open("
                        "CAST(:ids AS bigint[]), :actor, :role, :purpose)"
                    ),
                    {"ids": list(case_ids), "actor": actor, "role": role, "purpose": purpose},
                ).scalar_one()
            )


def personal_data_log(*, conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    """The newest views and exports of unmasked reporter data."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text(
                "SELECT at, actor, role, purpose, case_ids, n_rows FROM personal_data_access "
                "ORDER BY id DESC LIMIT :n"
            ),
            {"n": limit},
        ).mappings()
    ]


def hash_key(key: str) -> str:
    """SHA-256 hex of an API key (keys are random 256-bit tokens: no slow hash needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(*, conn: Connection, client: str) -> str:
    """Create (or replace) the API key of ``client``; the plain key is returned only here."""
    if not client.strip():
        raise BadValue("an API client needs a name")
    key = secrets.token_urlsafe(32)
    conn.execute(
        sa.text("""
        INSERT INTO api_keys (client, key_hash) VALUES (:c, :h)
        ON CONFLICT (client) DO UPDATE SET key_hash = EXCLUDED.key_hash, created_at = now(),
            revoked_at = NULL
    """),
        {"c": client, "h": hash_key(key)},
    )
    return key


def revoke_api_key(*, conn: Connection, client: str) -> bool:
    """Revoke ``client``'s key; False when there was none."""
    return bool(
        conn.execute(
            sa.text(
                "UPDATE api_keys SET revoked_at = now() WHERE client = :c AND revoked_at IS NULL"
            ),
            {"c": client},
        ).rowcount
    )


def client_for_key(*, conn: Connection, key: str | None) -> str:
    """The client an API key belongs to.

    Raises
    ------
    BadApiKey
        No key, or an unknown or revoked one.
    """
    if not key:
        raise BadApiKey("an api_key is required for this request")
    client = conn.execute(
        sa.text("SELECT client FROM api_keys WHERE key_hash = :h AND revoked_at IS NULL"),
        {"h": hash_key(key)},
    ).scalar()
    if client is None:
        raise BadApiKey("unknown or revoked api_key")
    return str(client)
