"""The notification outbox: capture new case events, fan them out, claim and settle sends.

Events are read from ``case_events`` by id (migration 0085 explains why there is no
trigger). A reader that simply remembered "the largest id seen" would lose events:
identity values are handed out when a row is inserted, not when its transaction
commits, so a transaction that took id 10 may commit after one that took id 11 was
already read. :func:`capture_events` therefore re-reads every id above ``last_id``
that it has not captured yet, and moves ``last_id`` only up to the largest id it saw
on its *previous* pass, once every transaction that was writing in this database just
after that read has ended (``notify_running_xids``): by then every transaction that
could have held a smaller id has committed (and is read) or rolled back. A transaction
that stays open only holds the cursor back (more ids re-checked per pass), never an
event. (Rows in ``case_events`` come from ``case_transition``/``case_report``, which
write the case first, so a writer has its transaction id before it takes an event id.)
Each event lands in ``notify_events`` once (its primary key), and each (event,
recipient) pair in ``notifications`` once (``delivery_key``), however often or
concurrently the worker runs.

Every function takes the caller's connection and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = [
    "CaptureResult",
    "Claimed",
    "capture_events",
    "claim_due",
    "dead_letters",
    "notifications_of_event",
    "record_attempt",
    "release",
    "retry_dead",
]

CHANNELS = ("email", "sms", "wechat", "webhook")

# Mask an 18-character resident ID number, then an 11-digit mobile number, in free text
# that leaves the system (reasons typed by staff or residents).
_MASK_SQL = """regexp_replace(regexp_replace(coalesce({col}, ''),
    '([0-9]{{6}})[0-9]{{8}}([0-9]{{3}}[0-9Xx])', '\\1********\\2', 'g'),
    '(1[3-9][0-9])[0-9]{{4}}([0-9]{{4}})', '\\1****\\2', 'g')"""


@dataclass(frozen=True)
class CaptureResult:
    """One capture pass: events captured, notifications queued, where the cursor is."""

    events: int
    notifications: int
    last_id: int | None


@dataclass(frozen=True)
class Claimed:
    """A notification claimed for one attempt, with what its sender needs."""

    id: int
    receiver_id: int | None
    delivery_key: str
    channel: str
    payload: dict[str, Any]
    attempt: int
    address: str | None
    url: str | None
    secret: str | None
    max_tries: int | None
    backoff_base_s: float | None
    backoff_cap_s: float | None


def capture_events(
    *, conn: Connection, batch: int = 1000, hidden_service_codes: Sequence[str] = ()
) -> CaptureResult:
    """Capture case events not captured yet and queue their notifications.

    Parameters
    ----------
    batch
        At most this many events per pass.
    hidden_service_codes
        Kinds that area watches never hear of (sensitive kinds: disputes, safety);
        followers of such a case and departments' receivers still do.

    Notes
    -----
    The first pass ever starts at the newest event (history already in the database,
    e.g. a loaded demo district, is not announced).
    """
    cur = conn.execute(
        sa.text(
            "SELECT last_id, pending_id, pending_running FROM notify_cursor WHERE id = 1 FOR UPDATE"
        )
    ).one()
    if cur.last_id is None:
        max_id = _max_event_id(conn)
        _move_cursor(conn, last_id=max_id, pending_id=max_id, running=_running(conn))
        return CaptureResult(0, 0, max_id)
    # (1) who is still writing now; (2) read what is there; (3) the largest id, then
    # (4) who is writing after it was read: next pass moves up to (3) once (4) ended
    running_now = set(_running(conn))
    captured = [
        int(r[0])
        for r in conn.execute(
            sa.text("""
            WITH new AS (
                SELECT e.id, e.case_id FROM case_events e
                WHERE e.id > :last
                  AND NOT EXISTS (SELECT 1 FROM notify_events n WHERE n.event_id = e.id)
                ORDER BY e.id LIMIT :batch)
            INSERT INTO notify_events (event_id, case_id)
            SELECT id, case_id FROM new ON CONFLICT DO NOTHING RETURNING event_id
        """),
            {"last": cur.last_id, "batch": batch},
        )
    ]
    queued = _fan_out(conn, captured, hidden_service_codes) if captured else 0
    last_id = int(cur.last_id)
    if cur.pending_running is not None and not running_now & set(cur.pending_running):
        # every transaction that could hold an id <= pending_id has ended and was read
        reach = int(cur.pending_id or 0)
        if len(captured) >= batch:
            reach = min(reach, max(captured))
        last_id = max(last_id, reach)
    max_id = _max_event_id(conn)
    _move_cursor(conn, last_id=last_id, pending_id=max_id, running=_running(conn))
    return CaptureResult(len(captured), queued, last_id)


def _max_event_id(conn: Connection) -> int:
    return int(conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM case_events")).scalar_one())


def _running(conn: Connection) -> list[str]:
    """Transaction ids writing in this database now (other sessions)."""
    return list(conn.execute(sa.text("SELECT notify_running_xids()")).scalar_one())


def _move_cursor(conn: Connection, *, last_id: int, pending_id: int, running: list[str]) -> None:
    conn.execute(
        sa.text(
            "UPDATE notify_cursor SET last_id = :l, pending_id = :p, "
            "pending_running = CAST(:r AS text[]), updated_at = now() WHERE id = 1"
        ),
        {"l": last_id, "p": pending_id, "r": running},
    )


_PAYLOAD = f"""
    jsonb_build_object(
        'event', jsonb_build_object('id', e.id, 'at', e.at, 'action', e.action,
            'from_status', e.from_status, 'to_status', e.to_status,
            'reason', nullif({_MASK_SQL.format(col="e.reason")}, ''),
            'photos', (SELECT count(*) FROM jsonb_array_elements(e.attachments) a
                       WHERE a->>'type' = 'photo')),
        'case', jsonb_build_object('case_no', c.case_no, 'status', c.status,
            'status_zh', st.name_zh, 'status_en', st.name_en,
            'service_code', k.service_code, 'kind_zh', k.name_zh, 'kind_en', k.name_en,
            'department_code', d.code, 'department_zh', d.name_zh,
            'department_en', d.name_en, 'community_code', cm.code,
            'deadline_at', c.deadline_at, 'closed_at', c.closed_at,
            'lon', round(ST_X(c.geom)::numeric, 6), 'lat', round(ST_Y(c.geom)::numeric, 6)))"""


def _fan_out(conn: Connection, event_ids: list[int], hidden: Sequence[str]) -> int:
    """Queue one notification per (event, matching subscription or receiver)."""
    params = {"ids": event_ids, "hidden": list(hidden)}
    follows = f"""
        INSERT INTO notifications (delivery_key, event_id, case_id, channel,
                                   subscription_id, payload)
        SELECT 's' || s.id || '-e' || e.id, e.id, e.case_id, s.channel, s.id, {_PAYLOAD}
        FROM case_events e
        JOIN notify_subscriptions s ON s.kind = 'follow' AND s.case_id = e.case_id
             AND s.ended_at IS NULL AND e.id > s.after_event_id
        JOIN cases c ON c.id = e.case_id
        JOIN case_statuses st ON st.code = c.status
        JOIN categories k ON k.id = c.category_id
        LEFT JOIN departments d ON d.id = c.department_id
        LEFT JOIN communities cm ON cm.id = c.community_id
        WHERE e.id = ANY(:ids)
        ON CONFLICT (delivery_key) DO NOTHING"""
    watches = f"""
        INSERT INTO notifications (delivery_key, event_id, case_id, channel,
                                   subscription_id, payload)
        SELECT 's' || s.id || '-e' || e.id, e.id, e.case_id, s.channel, s.id, {_PAYLOAD}
        FROM case_events e
        JOIN cases c ON c.id = e.case_id
        JOIN notify_subscriptions s ON s.kind = 'watch' AND s.ended_at IS NULL
             AND e.id > s.after_event_id
             AND (s.community_id = c.community_id
                  OR (s.geom IS NOT NULL
                      AND ST_DWithin(s.geom::geography, c.geom::geography, s.radius_m)))
        JOIN case_statuses st ON st.code = c.status
        JOIN categories k ON k.id = c.category_id
        LEFT JOIN departments d ON d.id = c.department_id
        LEFT JOIN communities cm ON cm.id = c.community_id
        WHERE e.id = ANY(:ids) AND e.action IN ('report', 'close')
          AND (cardinality(s.service_codes) = 0 OR k.service_code = ANY(s.service_codes))
          AND NOT (k.service_code = ANY(CAST(:hidden AS text[])))
        ON CONFLICT (delivery_key) DO NOTHING"""
    receivers = f"""
        INSERT INTO notifications (delivery_key, event_id, case_id, channel,
                                   receiver_id, payload)
        SELECT 'r' || r.id || '-e' || e.id, e.id, e.case_id, 'webhook', r.id,
               {_PAYLOAD} || jsonb_build_object('delivery', 'r' || r.id || '-e' || e.id)
        FROM case_events e
        JOIN cases c ON c.id = e.case_id
        JOIN notify_receivers r ON r.disabled_at IS NULL AND e.id > r.after_event_id
             AND (r.department_id IS NULL OR r.department_id = c.department_id)
        JOIN case_statuses st ON st.code = c.status
        JOIN categories k ON k.id = c.category_id
        LEFT JOIN departments d ON d.id = c.department_id
        LEFT JOIN communities cm ON cm.id = c.community_id
        WHERE e.id = ANY(:ids)
        ON CONFLICT (delivery_key) DO NOTHING"""
    total = 0
    for sql in (follows, watches, receivers):
        total += conn.execute(sa.text(sql), params).rowcount or 0
    return total


def claim_due(
    *, conn: Connection, channels: Sequence[str], limit: int = 50, lease_s: float = 60.0
) -> list[Claimed]:
    """Claim due notifications of ``channels`` for one attempt each (oldest first).

    A claimed row is ``sending`` until :func:`record_attempt` settles it; a worker that
    dies mid-send leaves it to be claimed again after ``lease_s`` (the receiver then sees
    the same ``delivery_key`` twice and keeps one).
    """
    rows = conn.execute(
        sa.text("""
        WITH due AS (
            SELECT n.id FROM notifications n
            LEFT JOIN notify_receivers r ON r.id = n.receiver_id
            WHERE n.status IN ('pending', 'sending') AND n.next_attempt_at <= now()
              AND n.channel = ANY(:channels) AND r.disabled_at IS NULL
            ORDER BY n.id LIMIT :limit FOR UPDATE OF n SKIP LOCKED),
        upd AS (
            UPDATE notifications n SET status = 'sending', attempts = n.attempts + 1,
                   next_attempt_at = now() + make_interval(secs => :lease)
            FROM due WHERE n.id = due.id
            RETURNING n.id, n.delivery_key, n.channel, n.payload, n.attempts,
                      n.subscription_id, n.receiver_id)
        SELECT upd.id, upd.receiver_id, upd.delivery_key, upd.channel, upd.payload, upd.attempts,
               s.address, r.url, r.secret, r.max_tries, r.backoff_base_s, r.backoff_cap_s
        FROM upd
        LEFT JOIN notify_subscriptions s ON s.id = upd.subscription_id
        LEFT JOIN notify_receivers r ON r.id = upd.receiver_id
        ORDER BY upd.id
    """),
        {"channels": list(channels), "limit": limit, "lease": lease_s},
    ).mappings()
    return [
        Claimed(
            id=int(r["id"]),
            receiver_id=r["receiver_id"],
            delivery_key=r["delivery_key"],
            channel=r["channel"],
            payload=r["payload"],
            attempt=int(r["attempts"]),
            address=r["address"],
            url=r["url"],
            secret=r["secret"],
            max_tries=r["max_tries"],
            backoff_base_s=r["backoff_base_s"],
            backoff_cap_s=r["backoff_cap_s"],
        )
        for r in rows
    ]


def record_attempt(
    *,
    conn: Connection,
    notification_id: int,
    attempt: int,
    ok: bool,
    detail: str | None,
    duration_ms: int,
    retry_at: datetime | None,
) -> str:
    """Log one attempt and settle the notification: ``sent``, ``pending`` again at
    ``retry_at``, or ``dead`` (``retry_at`` None after a failure); returns the status."""
    conn.execute(
        sa.text(
            "INSERT INTO notify_deliveries (notification_id, attempt, ok, detail, duration_ms) "
            "VALUES (:n, :a, :ok, :d, :ms)"
        ),
        {
            "n": notification_id,
            "a": attempt,
            "ok": ok,
            "d": (detail or "")[:500],
            "ms": duration_ms,
        },
    )
    status = "sent" if ok else ("pending" if retry_at is not None else "dead")
    conn.execute(
        sa.text("""
        UPDATE notifications SET status = :s, last_error = CASE WHEN :ok THEN NULL ELSE :d END,
               sent_at = CASE WHEN :ok THEN now() END,
               next_attempt_at = coalesce(CAST(:retry AS timestamptz), next_attempt_at)
        WHERE id = :n AND status = 'sending'
    """),
        {"s": status, "ok": ok, "d": (detail or "")[:500], "retry": retry_at, "n": notification_id},
    )
    if status == "dead":
        conn.execute(
            sa.text("""
            INSERT INTO notify_dead_letters (notification_id, attempts, last_error)
            VALUES (:n, :a, :d)
            ON CONFLICT (notification_id) DO UPDATE SET died_at = now(),
                attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error,
                retried_at = NULL
        """),
            {"n": notification_id, "a": attempt, "d": (detail or "")[:500]},
        )
    return status


def release(*, conn: Connection, notification_ids: Sequence[int], retry_at: datetime) -> None:
    """Give claimed notifications back untried (their attempt is not counted): the worker
    does this for the rest of a receiver's batch once one send to it has failed."""
    conn.execute(
        sa.text(
            "UPDATE notifications SET status = 'pending', attempts = attempts - 1, "
            "next_attempt_at = :t WHERE id = ANY(:i) AND status = 'sending'"
        ),
        {"i": list(notification_ids), "t": retry_at},
    )


def dead_letters(*, conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    """Notifications that ran out of tries and were not retried since, newest first.

    The recipient is the receiver's name or the channel only (no address: personal data).
    """
    rows = conn.execute(
        sa.text("""
        SELECT n.id, n.delivery_key, n.channel, r.name AS receiver,
               n.payload->'case'->>'case_no' AS case_no, n.event_id, l.attempts,
               l.died_at, l.last_error
        FROM notify_dead_letters l
        JOIN notifications n ON n.id = l.notification_id
        LEFT JOIN notify_receivers r ON r.id = n.receiver_id
        WHERE l.retried_at IS NULL
        ORDER BY l.died_at DESC, n.id DESC LIMIT :limit
    """),
        {"limit": limit},
    ).mappings()
    return [dict(r) for r in rows]


def retry_dead(*, conn: Connection, ids: Sequence[int] | None = None) -> int:
    """Queue dead notifications again (all of them, or ``ids``) with fresh tries."""
    rows = conn.execute(
        sa.text("""
        UPDATE notify_dead_letters SET retried_at = now()
        WHERE retried_at IS NULL
          AND (CAST(:ids AS bigint[]) IS NULL OR notification_id = ANY(CAST(:ids AS bigint[])))
        RETURNING notification_id
    """),
        {"ids": list(ids) if ids is not None else None},
    ).all()
    back = [int(r[0]) for r in rows]
    if back:
        conn.execute(
            sa.text(
                "UPDATE notifications SET status = 'pending', attempts = 0, "
                "next_attempt_at = now() WHERE id = ANY(:ids) AND status = 'dead'"
            ),
            {"ids": back},
        )
    return len(back)


def notifications_of_event(*, conn: Connection, event_id: int) -> list[dict[str, Any]]:
    """The outbox rows of one event (for the CLI and the tests)."""
    rows = conn.execute(
        sa.text(
            "SELECT id, delivery_key, channel, status, attempts, sent_at FROM notifications "
            "WHERE event_id = :e ORDER BY id"
        ),
        {"e": event_id},
    ).mappings()
    return [dict(r) for r in rows]
