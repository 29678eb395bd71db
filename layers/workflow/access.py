"""Roles and access: a session's scope, masked and unmasked reporters, API keys.

Each GridGov role maps to a PostgreSQL NOLOGIN group role (``gridgov_<role>``,
see :data:`layers.workflow.states.PG_ROLE`). A transaction takes on a
:class:`Scope` — role, area, department, and who acts — with :func:`enter_scope`, the
one function that applies it: it calls the database's ``gridgov_enter()``, which checks
the identity (a dashboard user or API client, unless the login is privileged) and
records role, area (a 9-digit street or 12-digit community code) and department for
the transaction where the session cannot change them, then runs ``SET LOCAL ROLE``;
row-level security reads that record, not a session setting. Everything is
transaction-local: it ends with the caller's transaction. Front doors do not call it
themselves: ``services.uow.unit_of_work`` does.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from city import is_area_code, is_community_code
from layers.workflow.errors import BadApiKey, BadValue, UnknownRole
from layers.workflow.states import PERSONAL_DATA_ROLES, PG_ROLE
from layers.workflow.transitions import refusals_as_errors


@dataclass(frozen=True)
class Scope:
    """What a session may see and do: the role, its area and its department.

    Hashable, so that dashboard caches are keyed by it (two users with the same
    scope see the same rows).
    """

    role: str
    area: str | None = None
    department_code: str | None = None
    username: str | None = field(default=None, compare=False)
    """Who acts: the dashboard user (or API client) the scope belongs to; the database
    checks role and area against that user's row (``gridgov_enter``). Not part of
    equality or the hash: caches are shared by every user with the same role and area."""

    @property
    def community(self) -> str | None:
        """The community code when the scope is one community, else None."""
        return self.area if self.area and is_community_code(self.area) else None

    @property
    def sees_personal_data(self) -> bool:
        """True when the role may see reporters unmasked."""
        return self.role in PERSONAL_DATA_ROLES


def enter_scope(*, conn: Connection, scope: Scope | None) -> None:
    """Act as ``scope`` for the rest of the caller's transaction (None: the login's own rights).

    The database's ``gridgov_enter()`` (migration 0013) checks the identity and records
    role, area, department and actor for this transaction; for a dashboard user
    (``scope.username``) area and department come from the user's row (a caller may
    only narrow a street to one of its communities). A privileged login (superuser:
    CLI, loaders, tests) may act without a username.

    Raises
    ------
    UnknownRole, BadValue, RoleNotHeld, OutsideYourArea
        An unknown role, a malformed area code or an unknown department, an identity
        that does not hold the role or area, or a second identity in one transaction.
    """
    if scope is None:
        return
    if scope.role not in PG_ROLE:
        raise UnknownRole(f"unknown role {scope.role!r}; known: {', '.join(PG_ROLE)}")
    if scope.area is not None and not is_area_code(scope.area):
        raise BadValue(f"area {scope.area!r} is not a 9-digit street or 12-digit community code")
    department_id = None
    # a dashboard user's department comes from its row (gridgov_enter); only a
    # privileged session without a user names one here
    if scope.department_code and scope.username is None:
        department_id = conn.execute(
            sa.text("SELECT id FROM departments WHERE code = :c"), {"c": scope.department_code}
        ).scalar()
        if department_id is None:
            raise BadValue(f"department {scope.department_code!r}: no such department")
    # one round trip; the role name comes from gridgov_enter (workflow_roles), never
    # from the caller (set_config('role', …, true) is SET LOCAL ROLE)
    with refusals_as_errors(conn, savepoint=False):
        conn.execute(
            sa.text(
                "SELECT set_config('role', gridgov_enter(:r, :a, CAST(:d AS integer), :u), true)"
            ),
            {"r": scope.role, "a": scope.area, "d": department_id, "u": scope.username},
        )


def leave_scope(*, conn: Connection) -> None:
    """Back to the login's own rights inside the same transaction (for a privileged
    process that switches roles in one transaction: tests, a model-based checker)."""
    conn.execute(sa.text("RESET ROLE"))
    conn.execute(
        sa.text(
            "SELECT set_config('gridgov.area', '', true), "
            "set_config('gridgov.department', '', true)"
        )
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
        enter_scope(conn=audit, scope=Scope(role, username=actor))
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
