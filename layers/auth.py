"""Dashboard logins: users with a password hash, a workflow role and its scope.

A user is stored in ``app_users`` (migration 0007) with a scrypt hash (stdlib
:func:`hashlib.scrypt`, a random salt per user), one role of the case lifecycle
(:data:`layers.workflow.states.ROLES`) and its scope: the street or community an
area-scoped role works in, the department a handler works for. After login the
dashboard opens every unit of work as that role (``services.uow.unit_of_work``), so that
PostgreSQL row-level security — not page code — decides what the user sees.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from city import is_area_code, is_street_code
from gis.errors import GridGovError
from layers.workflow.access import Scope
from layers.workflow.states import AREA_SCOPED_ROLES, LOGIN_ROLES

_SCRYPT = {"n": 2**16, "r": 8, "p": 2}
"""scrypt cost of new hashes: OWASP's N=2^16, r=8, p=2 (64 MiB). Hashes made with
other parameters (N=2^14 before issue 13) still verify and are rehashed at the next
good login (:func:`layers.login.log_in`)."""
_MAXMEM = 256 * 1024 * 1024
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
DEMO_PASSWORD = "gridgov-demo"
"""Password of every demo user (a demo database only; change or remove them in production)."""


class UserError(GridGovError, ValueError):
    """A user cannot be stored as given; the message names the field and why."""

    code = "bad_user"
    kind = "bad_input"


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
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, maxmem=_MAXMEM, **_SCRYPT)
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
        if int(n) > 2**20 or int(r) > 32 or int(p) > 16:
            return False  # not a hash we made: refuse rather than spend gigabytes
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=_MAXMEM,
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
    if area is not None and not is_area_code(area):
        raise UserError(f"area {area!r}: a 9-digit street or 12-digit community code")
    if role in AREA_SCOPED_ROLES and area is None:
        raise UserError(f"area: role {role} sees one street or community; give its code")
    if area is not None:
        table = "streets" if is_street_code(area) else "communities"
        found = conn.execute(sa.text(f"SELECT 1 FROM {table} WHERE code = :c"), {"c": area})
        if found.first() is None:
            raise UserError(
                f"area {area!r}: no such {table[:-1] if is_street_code(area) else 'community'}"
            )
    if role == "handler" and not department_code:
        raise UserError("department: a handler works for a department; give its code")
    if department_code is not None:
        found = conn.execute(
            sa.text("SELECT 1 FROM departments WHERE code = :c"), {"c": department_code}
        )
        if found.first() is None:
            raise UserError(f"department {department_code!r}: no such department")
    name = display_name or username
    params = {
        "u": username,
        "n": name,
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
    return User(username, name, Scope(role, area, department_code, username))


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


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with other scrypt parameters than new hashes get."""
    parts = stored.split("$")
    current = [str(_SCRYPT[k]) for k in ("n", "r", "p")]
    return len(parts) != 6 or parts[0] != "scrypt" or parts[1:4] != current


def valid_username(username: str) -> bool:
    """True when ``username`` could be a stored name (so it is safe to send to SQL)."""
    return bool(_USERNAME.match(username or ""))


def authenticate(*, conn: Connection, username: str, password: str) -> User | None:
    """The user when the name and password match an active user, else None.

    A name that cannot be a user's (control characters such as NUL, spaces, too
    long) is refused without a query, after the same work as a real check.
    """
    found = stored_login(conn=conn, username=username)
    if found is None:
        # same work as a real check, so that timing does not reveal which names exist
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, found.password_hash):
        return None
    return User(
        found.username,
        found.display_name,
        Scope(found.role, found.area, found.department_code, found.username),
    )


def stored_login(*, conn: Connection, username: str) -> sa.Row | None:
    """The active user's row (with its hash), or None; a malformed name is never queried."""
    if not valid_username(username):
        return None
    return conn.execute(
        sa.text("""
        SELECT username, display_name, password_hash, role, area, department_code
        FROM app_users WHERE username = :u AND disabled_at IS NULL
    """),
        {"u": username},
    ).first()


def rehash_password(*, conn: Connection, username: str, password: str) -> None:
    """Store a fresh hash of ``password`` (just verified) with today's scrypt cost."""
    conn.execute(
        sa.text("UPDATE app_users SET password_hash = :h WHERE username = :u"),
        {"h": hash_password(password), "u": username},
    )


def is_active(*, conn: Connection, username: str) -> bool:
    """True while ``username`` exists and is not disabled (checked on every page rerun)."""
    if not valid_username(username):
        return False
    return bool(
        conn.execute(
            sa.text("SELECT 1 FROM app_users WHERE username = :u AND disabled_at IS NULL"),
            {"u": username},
        ).first()
    )


_DUMMY_HASH = (
    f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}$"
    "AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)


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
