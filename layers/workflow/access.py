"""Roles and access: a session's scope, masked and unmasked reporters, API keys.

Each GridGov role maps to a PostgreSQL NOLOGIN group role (``gridgov_<role>``,
see :data:`layers.workflow.states.PG_ROLE`). A transaction takes on a
:class:`Scope` — role, area, department — with :func:`enter_scope`, the one
function that applies it: ``SET LOCAL ROLE`` plus ``gridgov.area`` (a 9-digit
street or 12-digit community code) and ``gridgov.department``, which row-level
security on ``cases``, ``case_events`` and ``case_assignments`` reads.
Everything is transaction-local: it ends with the caller's transaction.
Front doors do not call it themselves: ``services.uow.unit_of_work`` does.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
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

    Raises
    ------
    UnknownRole, BadValue
        An unknown role, a malformed area code or an unknown department.
    """
    if scope is None:
        return
    if scope.role not in PG_ROLE:
        raise UnknownRole(f"unknown role {scope.role!r}; known: {', '.join(PG_ROLE)}")
    if scope.area is not None and not is_area_code(scope.area):
        raise BadValue(f"area {scope.area!r} is not a 9-digit street or 12-digit community code")
    department_id = None
    if scope.department_code:
        department_id = conn.execute(
            sa.text("SELECT id FROM departments WHERE code = :c"), {"c": scope.department_code}
        ).scalar()
        if department_id is None:
            raise BadValue(f"department {scope.department_code!r}: no such department")
    _set_session(conn, pg_role=PG_ROLE[scope.role], area=scope.area, department_id=department_id)


def leave_scope(*, conn: Connection) -> None:
    """Back to the login's own rights inside the same transaction (for a process that
    switches roles in one transaction: tests, a model-based checker)."""
    conn.execute(sa.text("RESET ROLE"))
    _set_session(conn, pg_role=None, area=None, department_id=None)


def _set_session(
    conn: Connection, *, pg_role: str | None, area: str | None, department_id: int | None
) -> None:
    """The one place the scope reaches the database: transaction-local settings.

    One round trip; the role name comes from ``PG_ROLE``, never from the caller
    (``set_config('role', …, true)`` is ``SET LOCAL ROLE``).
    """
    role_sql = ", set_config('role', :r, true)" if pg_role else ""
    conn.execute(
        sa.text(
            "SELECT set_config('gridgov.area', :a, true), "
            f"set_config('gridgov.department', :d, true){role_sql}"
        ),
        {
            "a": area or "",
            "d": "" if department_id is None else str(int(department_id)),
            **({"r": pg_role} if pg_role else {}),
        },
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
    """Unmasked reporter names and phones; the view or export is recorded first.

    Raises
    ------
    RoleForbidden
        The role sees reporters only masked.
    """
    if purpose not in ("view", "export"):
        raise BadValue(f"purpose {purpose!r} is not view or export")
    with refusals_as_errors(conn):
        rows = conn.execute(
            sa.text(
                "SELECT case_id, name, phone, channel "
                "FROM reporter_contacts(CAST(:ids AS bigint[]), :actor, :role, :purpose)"
            ),
            {"ids": list(case_ids), "actor": actor, "role": role, "purpose": purpose},
        ).mappings()
        return [dict(r) for r in rows]


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
