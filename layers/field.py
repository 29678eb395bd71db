"""The field app's own tables: devices, the worker a login walks as, photos, actions.

A device (``field_devices``, migration 0070) is a phone signed in as a dashboard user;
its token is random and kept only as SHA-256 (like API keys). Device look-ups run with
the app login's own rights (before anyone is in scope); photos and actions are written
inside the user's unit of work, where row-level security shows each user its own rows.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from layers.workflow.errors import BadValue
from layers.workflow.transitions import refusals_as_errors

LAST_SEEN_EVERY_S = 60
"""A device's ``last_seen_at`` is written at most once a minute (not on every request)."""


@dataclass(frozen=True)
class Device:
    """A signed-in phone and the dashboard user it acts for."""

    device_id: uuid.UUID | None
    """None for a tracker named by its worker code (OsmAnd), not by a device."""
    username: str
    display_name: str
    role: str
    area: str | None
    department_code: str | None


def token_hash(token: str) -> str:
    """SHA-256 hex of a device token (random 256-bit: no slow hash needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def add_device(*, conn: Connection, username: str, label: str) -> tuple[uuid.UUID, str]:
    """Register a device for ``username``; return its id and its token (only here, in clear)."""
    label = label.strip()
    if not 1 <= len(label) <= 100 or any(ord(c) < 32 for c in label):
        raise BadValue("device_label: 1 to 100 printable characters")
    device_id = uuid.uuid4()
    token = secrets.token_urlsafe(32)
    conn.execute(
        sa.text(
            "INSERT INTO field_devices (id, username, label, token_hash) VALUES (:i, :u, :l, :h)"
        ),
        {"i": device_id, "u": username, "l": label, "h": token_hash(token)},
    )
    return device_id, token


def device_for_token(*, conn: Connection, token: str) -> Device | None:
    """The live device of a token and its active user, or None (unknown, revoked, disabled)."""
    row = conn.execute(
        sa.text("""
        SELECT d.id, d.username, u.display_name, u.role, u.area, u.department_code,
               d.last_seen_at IS NULL OR d.last_seen_at < now() - make_interval(secs => :every)
                   AS stale
        FROM field_devices d JOIN app_users u ON u.username = d.username
        WHERE d.token_hash = :h AND d.revoked_at IS NULL AND u.disabled_at IS NULL
    """),
        {"h": token_hash(token), "every": LAST_SEEN_EVERY_S},
    ).first()
    if row is None:
        return None
    if row.stale:
        conn.execute(
            sa.text("UPDATE field_devices SET last_seen_at = now() WHERE id = :i"), {"i": row.id}
        )
    return Device(row.id, row.username, row.display_name, row.role, row.area, row.department_code)


def device_by_id(*, conn: Connection, device_id: str) -> Device | None:
    """A live device by its id (the OsmAnd ``id`` may be one), or None."""
    try:
        key = uuid.UUID(device_id)
    except ValueError:
        return None
    row = conn.execute(
        sa.text("""
        SELECT d.id, d.username, u.display_name, u.role, u.area, u.department_code
        FROM field_devices d JOIN app_users u ON u.username = d.username
        WHERE d.id = :i AND d.revoked_at IS NULL AND u.disabled_at IS NULL
    """),
        {"i": key},
    ).first()
    return None if row is None else Device(*row)


def user_of_worker(*, conn: Connection, worker_code: str) -> Device | None:
    """The active login linked to a worker code (``field_workers``), as a device without id."""
    row = conn.execute(
        sa.text("""
        SELECT u.username, u.display_name, u.role, u.area, u.department_code
        FROM app_users u
        WHERE u.username = gridgov_field_login_of_worker(:c) AND u.disabled_at IS NULL
    """),
        {"c": worker_code},
    ).first()
    return None if row is None else Device(None, *row)


def devices(*, conn: Connection, username: str | None = None) -> list[dict[str, Any]]:
    """Registered devices, newest first (never the token)."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
        SELECT id AS device_id, username, label, created_at, last_seen_at, revoked_at
        FROM field_devices WHERE CAST(:u AS text) IS NULL OR username = :u
        ORDER BY created_at DESC
    """),
            {"u": username},
        ).mappings()
    ]


def revoke_device(*, conn: Connection, device_id: str) -> bool:
    """Revoke a device; False when there is no such live device."""
    try:
        key = uuid.UUID(device_id)
    except ValueError as exc:
        raise BadValue(f"device_id {device_id!r} is not a UUID") from exc
    return bool(
        conn.execute(
            sa.text(
                "UPDATE field_devices SET revoked_at = now() WHERE id = :i AND revoked_at IS NULL"
            ),
            {"i": key},
        ).rowcount
    )


def link_worker(*, conn: Connection, username: str, worker_code: str) -> None:
    """Make ``username`` walk as worker ``worker_code`` (its tracks and plans).

    Raises
    ------
    BadValue
        No such user with the grid-worker role, or no such worker.
    """
    role = conn.execute(
        sa.text("SELECT role FROM app_users WHERE username = :u"), {"u": username}
    ).scalar()
    if role != "grid_worker":
        raise BadValue(f"username {username!r}: no grid-worker login of that name")
    worker = conn.execute(
        sa.text("SELECT id FROM workers WHERE code = :c"), {"c": worker_code}
    ).scalar()
    if worker is None:
        raise BadValue(f"worker_code {worker_code!r}: no such worker")
    conn.execute(
        sa.text("DELETE FROM field_workers WHERE worker_id = :w AND username <> :u"),
        {"u": username, "w": worker},
    )
    conn.execute(
        sa.text("""
        INSERT INTO field_workers (username, worker_id) VALUES (:u, :w)
        ON CONFLICT (username) DO UPDATE SET worker_id = EXCLUDED.worker_id
    """),
        {"u": username, "w": worker},
    )


def my_worker(*, conn: Connection) -> dict[str, Any] | None:
    """The worker the acting user walks as: id, code, street_code; None when not linked."""
    row = (
        conn.execute(
            sa.text("""
        SELECT w.id, w.code, s.code AS street_code
        FROM workers w JOIN communities m ON m.id = w.community_id
        JOIN streets s ON s.id = m.street_id
        WHERE w.id = gridgov_field_worker()
    """)
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def stored_photo(*, conn: Connection, photo_id: uuid.UUID) -> dict[str, Any] | None:
    """An uploaded photo of the acting user: sha256, bytes, mime, path; or None."""
    row = (
        conn.execute(
            sa.text(
                "SELECT photo_id, sha256, bytes, mime, path FROM field_photos WHERE photo_id = :i"
            ),
            {"i": photo_id},
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def add_photo(*, conn: Connection, photo_id: uuid.UUID, username: str, record: dict) -> bool:
    """Remember an uploaded photo (``record`` from :func:`layers.media.store_photo`).

    Returns False when the id is taken already (by a concurrent upload).
    """
    return bool(
        conn.execute(
            sa.text("""
        INSERT INTO field_photos (photo_id, username, sha256, bytes, mime, path)
        VALUES (:i, :u, :s, :b, :m, :p) ON CONFLICT (photo_id) DO NOTHING
    """),
            {
                "i": photo_id,
                "u": username,
                "s": record["sha256"],
                "b": record["bytes"],
                "m": record["mime"],
                "p": record["path"],
            },
        ).rowcount
    )


def stored_result(*, conn: Connection, client_id: uuid.UUID) -> dict[str, Any] | None:
    """The result an action of this client id got, or None for a new action."""
    result = conn.execute(
        sa.text("SELECT result FROM field_actions WHERE client_id = :i"), {"i": client_id}
    ).scalar()
    return None if result is None else dict(result)


def remember_result(
    *,
    conn: Connection,
    client_id: uuid.UUID,
    username: str,
    device_id: uuid.UUID | None,
    kind: str,
    case_id: int | None,
    phone_at: datetime | None,
    result: dict[str, Any],
) -> bool:
    """Keep an action's result; False when the client id has one already (a concurrent
    send of the same action won: the caller rolls its savepoint back)."""
    return bool(
        conn.execute(
            sa.text("""
        INSERT INTO field_actions (client_id, username, device_id, kind, case_id, phone_at,
                                   ok, result)
        VALUES (:i, :u, :d, :k, :c, :t, :ok, CAST(:r AS jsonb))
        ON CONFLICT (client_id) DO NOTHING
    """),
            {
                "i": client_id,
                "u": username,
                "d": device_id,
                "k": kind[:40],
                "c": case_id,
                "t": phone_at,
                "ok": bool(result.get("ok")),
                "r": json.dumps(result, default=str, ensure_ascii=False),
            },
        ).rowcount
    )


def report_details(
    *, conn: Connection, case_id: int, part_id: int | None, accuracy_m: float | None
) -> None:
    """Set the part picked and the position's accuracy of a case the actor just reported
    (``field_report_details``, migration 0115: part faults only, the part within 300 m).

    Raises
    ------
    BadValue
        Not a part fault, no such part, the part too far, or not the actor's new case.
    """
    with refusals_as_errors(conn, savepoint=False):
        conn.execute(
            sa.text("SELECT field_report_details(:c, :p, CAST(:a AS real))"),
            {"c": case_id, "p": part_id, "a": accuracy_m},
        )


def count_osmand_refusal(*, conn_engine: Engine, reason: str, tracker_id: str | None) -> None:
    """Keep one refused OsmAnd fix (its own short transaction: the refusal is kept even
    though the request fails)."""
    tracker = hashlib.sha256(tracker_id.encode()).hexdigest()[:12] if tracker_id else None
    with conn_engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO osmand_refusals (reason, tracker) VALUES (:r, :t)"),
            {"r": reason[:40], "t": tracker},
        )


def osmand_refusal_counts(*, conn: Connection, since_hours: float = 24.0) -> dict[str, int]:
    """Refused OsmAnd fixes by reason over the last ``since_hours``."""
    return {
        r.reason: int(r.n)
        for r in conn.execute(
            sa.text("""
        SELECT reason, count(*) AS n FROM osmand_refusals
        WHERE at > now() - make_interval(secs => :s) GROUP BY reason ORDER BY reason
    """),
            {"s": since_hours * 3600},
        )
    }


def action_counts(*, conn: Connection, username: str | None = None) -> dict[str, int]:
    """Stored actions by kind and outcome (``report:ok`` → n), for checks and benchmarks."""
    return {
        f"{r.kind}:{'ok' if r.ok else 'refused'}": int(r.n)
        for r in conn.execute(
            sa.text("""
        SELECT kind, ok, count(*) AS n FROM field_actions
        WHERE CAST(:u AS text) IS NULL OR username = :u GROUP BY kind, ok
    """),
            {"u": username},
        )
    }
