"""Dashboard logins: users with a password hash, a workflow role and its scope.

A user is stored in ``app_users`` (migration 0007) with a scrypt hash (stdlib
:func:`hashlib.scrypt`, a random salt per user), one role of the case lifecycle
(:data:`layers.workflow.states.ROLES`) and its scope: the street or community an
area-scoped role works in, the department a handler works for. After login the
dashboard opens every unit of work as that role (:func:`scoped`), so that
PostgreSQL row-level security — not page code — decides what the user sees.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from layers.workflow.access import act_as
from layers.workflow.states import AREA_SCOPED_ROLES, PERSONAL_DATA_ROLES

LOGIN_ROLES = (
    "operator",
    "dispatcher",
    "shift_leader",
    "handler",
    "grid_worker",
    "supervisor",
    "leader",
)
"""Roles a person logs in to the dashboard with (API clients use keys)."""

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
_AREA = re.compile(r"^(\d{9}|\d{12})$")
DEMO_PASSWORD = "gridgov-demo"
"""Password of every demo user (a demo database only; change or remove them in production)."""


class UserError(ValueError):
    """A user cannot be stored as given; the message names the field and why."""


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
    """The dashboard user the scope belongs to: the database checks role and area against
    that user's row (``gridgov_enter``). Not part of equality or the hash: caches are
    shared by every user with the same role and area."""

    @property
    def community(self) -> str | None:
        """The community code when the scope is one community, else None."""
        return self.area if self.area and len(self.area) == 12 else None

    @property
    def sees_personal_data(self) -> bool:
        return self.role in PERSONAL_DATA_ROLES


@dataclass(frozen=True)
class User:
    """A logged-in dashboard user."""

    username: str
    display_name: str
    scope: Scope

    @property
    def role(self) -> str:
        return self.scope.role


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64) of ``password`` with a fresh random salt."""
    if len(password) < 8:
        raise UserError("password: at least 8 characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return (
        f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}$"
        f"{b64(salt).decode()}${b64(digest).decode()}"
    )


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the ``stored`` hash (constant-time compare)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def add_user(
    *,
    conn: Connection,
    username: str,
    password: str,
    role: str,
    area: str | None = None,
    department_code: str | None = None,
    display_name: str | None = None,
    replace: bool = False,
) -> User:
    """Store a dashboard user (or, with ``replace``, update one of that name).

    Raises
    ------
    UserError
        A malformed name, short password, unknown role, a missing or malformed area
        for an area-scoped role, an unknown area or department, or a taken name.
    """
    if not _USERNAME.match(username or ""):
        raise UserError(f"username {username!r}: 2-64 letters, digits, '_', '.' or '-'")
    if role not in LOGIN_ROLES:
        raise UserError(f"role {role!r}: not one of {', '.join(LOGIN_ROLES)}")
    if area is not None and not _AREA.match(area):
        raise UserError(f"area {area!r}: a 9-digit street or 12-digit community code")
    if role in AREA_SCOPED_ROLES and area is None:
        raise UserError(f"area: role {role} sees one street or community; give its code")
    if area is not None:
        table = "streets" if len(area) == 9 else "communities"
        found = conn.execute(sa.text(f"SELECT 1 FROM {table} WHERE code = :c"), {"c": area})
        if found.first() is None:
            raise UserError(
                f"area {area!r}: no such {table[:-1] if len(area) == 9 else 'community'}"
            )
    if role == "handler" and not department_code:
        raise UserError("department: a handler works for a department; give its code")
    if department_code is not None:
        found = conn.execute(
            sa.text("SELECT 1 FROM departments WHERE code = :c"), {"c": department_code}
        )
        if found.first() is None:
            raise UserError(f"department {department_code!r}: no such department")
    params = {
        "u": username,
        "n": display_name or username,
        "h": hash_password(password),
        "r": role,
        "a": area,
        "d": department_code,
    }
    conflict = (
        "DO UPDATE SET display_name = EXCLUDED.display_name, password_hash = "
        "EXCLUDED.password_hash, role = EXCLUDED.role, area = EXCLUDED.area, "
        "department_code = EXCLUDED.department_code, disabled_at = NULL"
        if replace
        else "DO NOTHING"
    )
    written = conn.execute(
        sa.text(f"""
        INSERT INTO app_users (username, display_name, password_hash, role, area, department_code)
        VALUES (:u, :n, :h, :r, :a, :d) ON CONFLICT (username) {conflict}
    """),
        params,
    ).rowcount
    if not written:
        raise UserError(f"username {username!r}: already taken (use replace to update it)")
    return User(username, params["n"], Scope(role, area, department_code, username))


def list_users(*, conn: Connection) -> list[dict]:
    """Every user without the hash: username, display name, role, area, department, disabled."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
        SELECT username, display_name, role, area, department_code, created_at,
               disabled_at IS NOT NULL AS disabled
        FROM app_users ORDER BY username
    """)
        ).mappings()
    ]


def disable_user(*, conn: Connection, username: str) -> bool:
    """Disable a login (history rows keep the name); False when there was no such active user."""
    return bool(
        conn.execute(
            sa.text(
                "UPDATE app_users SET disabled_at = now() "
                "WHERE username = :u AND disabled_at IS NULL"
            ),
            {"u": username},
        ).rowcount
    )


def authenticate(*, conn: Connection, username: str, password: str) -> User | None:
    """The user when the name and password match an active user, else None."""
    row = conn.execute(
        sa.text("""
        SELECT username, display_name, password_hash, role, area, department_code
        FROM app_users WHERE username = :u AND disabled_at IS NULL
    """),
        {"u": username},
    ).first()
    if row is None:
        # same work as a real check, so that timing does not reveal which names exist
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, row.password_hash):
        return None
    return User(
        row.username,
        row.display_name,
        Scope(row.role, row.area, row.department_code, row.username),
    )


_DUMMY_HASH = (
    "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)


def apply_scope(*, conn: Connection, scope: Scope | None) -> None:
    """Act as ``scope``'s role for the rest of the transaction (None: the login's own rights)."""
    if scope is None:
        return
    department_id = None
    # a dashboard user's department comes from its row (gridgov_enter); only a
    # privileged session without a user names one here
    if scope.department_code and scope.username is None:
        department_id = conn.execute(
            sa.text("SELECT id FROM departments WHERE code = :c"), {"c": scope.department_code}
        ).scalar()
    act_as(
        conn=conn,
        role=scope.role,
        area=scope.area,
        department_id=department_id,
        actor=scope.username,
    )


@contextmanager
def scoped(engine: Engine, scope: Scope | None, *, write: bool = False) -> Iterator[Connection]:
    """A connection inside a transaction acting as ``scope`` (rolled back unless ``write``)."""
    with engine.connect() as conn, conn.begin() as tx:
        apply_scope(conn=conn, scope=scope)
        yield conn
        if not write:
            tx.rollback()


def demo_users(*, conn: Connection, password: str = DEMO_PASSWORD) -> list[User]:
    """Create (or reset) one demo user per login role in the loaded demo district.

    The supervisor and grid worker get the first community, ``supervisor_street``
    the street, the handler the department with the most cases. A disabled
    account of one of these names stays disabled (and is left out).

    Raises
    ------
    UserError
        The database holds no demo district (``gridgov demo``): the public demo
        logins and their published password are never made on a real database.
    """
    if not conn.execute(
        sa.text("SELECT EXISTS (SELECT 1 FROM gridgov_meta WHERE key = 'demo')")
    ).scalar():
        raise UserError(
            "demo users: this database holds no demo district (gridgov demo); the demo "
            "logins and their published password are made only on a demo database"
        )
    disabled = set(
        conn.execute(
            sa.text("SELECT username FROM app_users WHERE disabled_at IS NOT NULL")
        ).scalars()
    )
    community = conn.execute(sa.text("SELECT code FROM communities ORDER BY code LIMIT 1")).scalar()
    street = conn.execute(sa.text("SELECT code FROM streets ORDER BY code LIMIT 1")).scalar()
    department = conn.execute(
        sa.text("""
        SELECT coalesce(
            (SELECT d.code FROM cases c JOIN departments d ON d.id = c.department_id
             GROUP BY d.code ORDER BY count(*) DESC, d.code LIMIT 1),
            (SELECT code FROM departments ORDER BY code LIMIT 1))
    """)
    ).scalar()
    specs = [
        ("operator", "受理员 Operator", "operator", None, None),
        ("dispatcher", "派遣员 Dispatcher", "dispatcher", None, None),
        ("shift_leader", "值班长 Shift leader", "shift_leader", None, None),
        ("handler", "部门处置员 Handler", "handler", None, department),
        ("grid_worker", "网格员 Grid worker", "grid_worker", community, None),
        ("supervisor", "社区督导 Community supervisor", "supervisor", community, None),
        ("supervisor_street", "街道督导 Street supervisor", "supervisor", street, None),
        ("leader", "领导 Leader", "leader", None, None),
    ]
    out = []
    for username, name, role, area, dept in specs:
        if role in AREA_SCOPED_ROLES and area is None:
            continue  # no district loaded
        if role == "handler" and dept is None:
            continue
        if username in disabled:
            continue  # an administrator disabled it: a demo (re)load never re-enables it
        out.append(
            add_user(
                conn=conn,
                username=username,
                password=password,
                role=role,
                area=area,
                department_code=dept,
                display_name=name,
                replace=True,
            )
        )
    return out
