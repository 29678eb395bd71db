"""Dashboard login with throttling, lockout, an audit of failures and rehashing.

Every attempt is a row in ``login_attempts`` (migration 0020): the name as typed
(made printable), the client address when the front door knows it, when, ok or why
not. The state lives in PostGIS, not in a process, so that several Streamlit
processes or replicas share it.

Policy (:class:`LoginPolicy`, from the environment):

- after ``max_failures`` failed attempts for one name within ``window_s`` since its
  last good login, the name is locked for ``lockout_s``, doubling with each further
  failure up to ``max_lockout_s``;
- the same for one client address after ``max_address_failures`` (a password spray
  over many names);
- an attempt while locked is refused without looking at the password (and recorded
  as ``locked``; it does not lengthen the lockout);
- a good login whose hash has old scrypt parameters stores a fresh hash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.errors import GridGovError
from layers.auth import (
    User,
    authenticate,
    needs_rehash,
    rehash_password,
    stored_login,
    valid_username,
)


class LoginLocked(GridGovError):
    """Too many failed logins for this name or address; try again after ``retry_after_s``."""

    code = "login_locked"
    kind = "too_many"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class LoginPolicy:
    """Lockout thresholds and the dashboard's idle timeout (seconds)."""

    max_failures: int = 5
    max_address_failures: int = 20
    window_s: int = 900
    lockout_s: int = 60
    max_lockout_s: int = 3600
    idle_timeout_s: int = 1800

    @classmethod
    def from_env(cls) -> LoginPolicy:
        """``GRIDGOV_LOGIN_MAX_FAILURES``, ``GRIDGOV_LOGIN_MAX_ADDRESS_FAILURES``,
        ``GRIDGOV_LOGIN_WINDOW_S``, ``GRIDGOV_LOGIN_LOCKOUT_S``,
        ``GRIDGOV_LOGIN_MAX_LOCKOUT_S`` and ``GRIDGOV_SESSION_IDLE_S`` (defaults above)."""
        names = {
            "max_failures": "GRIDGOV_LOGIN_MAX_FAILURES",
            "max_address_failures": "GRIDGOV_LOGIN_MAX_ADDRESS_FAILURES",
            "window_s": "GRIDGOV_LOGIN_WINDOW_S",
            "lockout_s": "GRIDGOV_LOGIN_LOCKOUT_S",
            "max_lockout_s": "GRIDGOV_LOGIN_MAX_LOCKOUT_S",
            "idle_timeout_s": "GRIDGOV_SESSION_IDLE_S",
        }
        values: dict[str, int] = {}
        for field, env in names.items():
            raw = os.environ.get(env)
            if raw is None:
                continue
            if not raw.strip().isdigit() or int(raw) < 1:
                raise ValueError(f"{env}={raw!r}: a whole number ≥ 1")
            values[field] = int(raw)
        return cls(**values)


def printable_name(username: str) -> str:
    """The name as typed, fit to store and show: control characters (NUL…) replaced
    by U+FFFD, at most 100 characters."""
    return "".join("\ufffd" if ord(c) < 32 or ord(c) == 127 else c for c in username[:100])


def log_in(
    *,
    conn: Connection,
    username: str,
    password: str,
    address: str | None = None,
    policy: LoginPolicy | None = None,
    now: datetime | None = None,
) -> User | None:
    """The user for a name and password, recorded and throttled; None when they do not match.

    The caller commits (the attempt row and a rehash are writes).

    Raises
    ------
    LoginLocked
        The name or the address is locked out after too many failures.
    """
    policy = policy or LoginPolicy.from_env()
    name = printable_name(username)
    address = printable_name(address)[:64] if address else None
    at = now or conn.execute(sa.text("SELECT now()")).scalar_one()
    # one attempt per name at a time (several processes): the count below stays true
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('login:' || :u))"), {"u": name})
    wait = _locked_for(conn=conn, name=name, address=address, policy=policy, at=at)
    if wait > 0:
        _record(conn=conn, name=name, address=address, at=at, ok=False, reason="locked")
        raise LoginLocked(wait)
    user = authenticate(conn=conn, username=username, password=password)
    if user is None:
        if not valid_username(username):
            reason = "malformed_name"
        elif stored_login(conn=conn, username=username) is None:
            reason = "unknown_user"
        else:
            reason = "bad_password"
        _record(conn=conn, name=name, address=address, at=at, ok=False, reason=reason)
        return None
    stored = stored_login(conn=conn, username=username)
    if stored is not None and needs_rehash(stored.password_hash):
        rehash_password(conn=conn, username=username, password=password)
    _record(conn=conn, name=name, address=address, at=at, ok=True, reason="ok")
    return user


def _locked_for(
    *, conn: Connection, name: str, address: str | None, policy: LoginPolicy, at: datetime
) -> int:
    """Seconds until the name (or address) may try again; 0 when it may now."""
    row = conn.execute(
        sa.text("""
        WITH since AS (
            SELECT greatest(CAST(:at AS timestamptz) - make_interval(secs => :window),
                            coalesce(max(at), '-infinity')) AS t
            FROM login_attempts WHERE username = :u AND ok)
        SELECT
            (SELECT count(*) FROM login_attempts, since WHERE username = :u AND NOT ok
               AND reason <> 'locked' AND at > since.t AND at <= :at) AS name_failures,
            (SELECT max(at) FROM login_attempts, since WHERE username = :u AND NOT ok
               AND reason <> 'locked' AND at > since.t AND at <= :at) AS name_last,
            (SELECT count(*) FROM login_attempts WHERE address = :a AND NOT ok
               AND reason <> 'locked'
               AND at > CAST(:at AS timestamptz) - make_interval(secs => :window)
               AND at <= :at) AS address_failures,
            (SELECT max(at) FROM login_attempts WHERE address = :a AND NOT ok
               AND reason <> 'locked'
               AND at > CAST(:at AS timestamptz) - make_interval(secs => :window)
               AND at <= :at) AS address_last
    """),
        {"u": name, "a": address, "at": at, "window": policy.window_s},
    ).one()
    waits = [
        _wait(row.name_failures, row.name_last, policy.max_failures, policy, at),
        _wait(row.address_failures, row.address_last, policy.max_address_failures, policy, at),
    ]
    return max(waits)


def _wait(
    failures: int, last: datetime | None, limit: int, policy: LoginPolicy, at: datetime
) -> int:
    if last is None or failures < limit:
        return 0
    lockout = min(policy.lockout_s * 2 ** min(failures - limit, 20), policy.max_lockout_s)
    remaining = (last + timedelta(seconds=lockout) - at).total_seconds()
    return max(0, int(remaining + 0.999))


def _record(
    *, conn: Connection, name: str, address: str | None, at: datetime, ok: bool, reason: str
) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO login_attempts (username, address, at, ok, reason) "
            "VALUES (:u, :a, :at, :ok, :r)"
        ),
        {"u": name, "a": address, "at": at, "ok": ok, "r": reason},
    )


def failed_logins(*, conn: Connection, since: datetime, limit: int = 200) -> list[dict]:
    """The audit: failed attempts since ``since``, newest first (name, address, at, reason)."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
            SELECT username, address, at, reason FROM login_attempts
            WHERE NOT ok AND at >= :since ORDER BY at DESC, id DESC LIMIT :n"""),
            {"since": since, "n": limit},
        ).mappings()
    ]


def session_expired(last_active: float, now: float, policy: LoginPolicy | None = None) -> bool:
    """True when a dashboard session idle since ``last_active`` (seconds) has timed out."""
    policy = policy or LoginPolicy.from_env()
    return now - last_active > policy.idle_timeout_s
