"""Who hears of case events: residents' follows and area watches, departments' receivers.

A follow needs the case's private link (the SHA-256 of its secret token is in
``resident_links``, migration 0080). Subscriptions are stored once per client id (an
offline phone may send one twice). Every function takes the caller's connection and
never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from city.errors import GridGovError

__all__ = [
    "CaseLinkNotFound",
    "NewReceiver",
    "NewWatch",
    "SubscriptionRefused",
    "add_follow",
    "add_receiver",
    "add_watch",
    "end_subscription",
    "list_receivers",
]


class SubscriptionRefused(GridGovError):
    """A subscription or receiver that cannot be stored as asked (the message says why)."""

    code = "subscription_refused"
    kind = "bad_input"


class CaseLinkNotFound(GridGovError):
    """No case with that number opens with that private link."""

    code = "case_link_not_found"
    kind = "not_found"


@dataclass(frozen=True)
class NewWatch:
    """An area watch as validated: a community code, or a point and a radius."""

    channel: str
    address: str
    client_id: str
    unsubscribe_hash: bytes
    service_codes: tuple[str, ...] = ()
    community_code: str | None = None
    lon: float | None = None
    lat: float | None = None
    radius_m: float | None = None


@dataclass(frozen=True)
class NewReceiver:
    """A department's system that receives signed webhooks."""

    name: str
    url: str
    secret: str
    department_code: str | None = None
    max_tries: int = 12
    backoff_base_s: float = 5.0
    backoff_cap_s: float = 900.0


def add_follow(
    *,
    conn: Connection,
    case_no: str,
    token_hash: bytes,
    channel: str,
    address: str,
    client_id: str,
    unsubscribe_hash: bytes,
) -> bool:
    """Follow case ``case_no`` opened with its private link; False when already followed.

    Raises
    ------
    CaseLinkNotFound
        The number and the link do not belong together.
    """
    case_id = conn.execute(
        sa.text("""
        SELECT c.id FROM cases c JOIN resident_links l ON l.case_id = c.id
        WHERE c.case_no = :no AND l.token_hash = :h
    """),
        {"no": case_no, "h": token_hash},
    ).scalar()
    if case_id is None:
        raise CaseLinkNotFound(f"case_no: no case {case_no!r} opens with this link (token)")
    made = conn.execute(
        sa.text("""
        INSERT INTO notify_subscriptions (kind, channel, address, case_id, client_id,
                                          unsubscribe_hash, after_event_id)
        VALUES ('follow', :ch, :addr, :case, :cid, :u,
                coalesce((SELECT max(id) FROM case_events WHERE case_id = :case), 0))
        ON CONFLICT DO NOTHING RETURNING id
    """),
        {"ch": channel, "addr": address, "case": case_id, "cid": client_id, "u": unsubscribe_hash},
    ).scalar()
    return made is not None


def add_watch(*, conn: Connection, watch: NewWatch) -> bool:
    """Watch a community or a circle for new and closed cases of some kinds (all: none
    named); False when this client id was stored before.

    Raises
    ------
    SubscriptionRefused
        An unknown community or kind, or a kind that cannot be watched.
    """
    community_id = None
    if watch.community_code is not None:
        community_id = conn.execute(
            sa.text("SELECT id FROM communities WHERE code = :c"), {"c": watch.community_code}
        ).scalar()
        if community_id is None:
            raise SubscriptionRefused(f"community: no community {watch.community_code!r}")
    if watch.service_codes:
        known = set(
            conn.execute(
                sa.text(
                    "SELECT service_code FROM categories WHERE service_code = ANY(:k) AND level = 2"
                ),
                {"k": list(watch.service_codes)},
            ).scalars()
        )
        unknown = sorted(set(watch.service_codes) - known)
        if unknown:
            raise SubscriptionRefused(f"kinds: unknown kind(s) {', '.join(unknown)}")
    made = conn.execute(
        sa.text("""
        INSERT INTO notify_subscriptions (kind, channel, address, community_id, geom, radius_m,
                                          service_codes, client_id, unsubscribe_hash,
                                          after_event_id)
        VALUES ('watch', :ch, :addr, :cm,
                CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                     ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END,
                :r, CAST(:codes AS text[]), :cid, :u,
                coalesce((SELECT max(id) FROM case_events), 0))
        ON CONFLICT DO NOTHING RETURNING id
    """),
        {
            "ch": watch.channel,
            "addr": watch.address,
            "cm": community_id,
            "lon": watch.lon,
            "lat": watch.lat,
            "r": watch.radius_m,
            "codes": list(watch.service_codes),
            "cid": watch.client_id,
            "u": watch.unsubscribe_hash,
        },
    ).scalar()
    return made is not None


def end_subscription(*, conn: Connection, unsubscribe_hash: bytes) -> bool:
    """End the subscription whose unsubscribe token hashes to ``unsubscribe_hash``."""
    ended = conn.execute(
        sa.text(
            "UPDATE notify_subscriptions SET ended_at = now() "
            "WHERE unsubscribe_hash = :u AND ended_at IS NULL RETURNING id"
        ),
        {"u": unsubscribe_hash},
    ).scalar()
    return ended is not None


def add_receiver(*, conn: Connection, receiver: NewReceiver) -> int:
    """Store a webhook receiver; it hears of events from now on. Returns its id.

    Raises
    ------
    SubscriptionRefused
        A name already taken or an unknown department.
    """
    department_id = None
    if receiver.department_code is not None:
        department_id = conn.execute(
            sa.text("SELECT id FROM departments WHERE code = :c"), {"c": receiver.department_code}
        ).scalar()
        if department_id is None:
            raise SubscriptionRefused(f"department: no department {receiver.department_code!r}")
    new_id = conn.execute(
        sa.text("""
        INSERT INTO notify_receivers (name, url, secret, department_id, max_tries,
                                      backoff_base_s, backoff_cap_s, after_event_id)
        VALUES (:n, :u, :s, :d, :t, :b, :c, coalesce((SELECT max(id) FROM case_events), 0))
        ON CONFLICT (name) DO NOTHING RETURNING id
    """),
        {
            "n": receiver.name,
            "u": receiver.url,
            "s": receiver.secret,
            "d": department_id,
            "t": receiver.max_tries,
            "b": receiver.backoff_base_s,
            "c": receiver.backoff_cap_s,
        },
    ).scalar()
    if new_id is None:
        raise SubscriptionRefused(f"name: a receiver named {receiver.name!r} exists already")
    return int(new_id)


def list_receivers(*, conn: Connection) -> list[dict[str, Any]]:
    """Receivers with their delivery counts (the secret is never returned)."""
    rows = conn.execute(
        sa.text("""
        SELECT r.id, r.name, r.url, d.code AS department, r.max_tries, r.backoff_base_s,
               r.backoff_cap_s, r.disabled_at,
               count(n.id) FILTER (WHERE n.status = 'sent') AS sent,
               count(n.id) FILTER (WHERE n.status IN ('pending', 'sending')) AS waiting,
               count(n.id) FILTER (WHERE n.status = 'dead') AS dead
        FROM notify_receivers r
        LEFT JOIN departments d ON d.id = r.department_id
        LEFT JOIN notifications n ON n.receiver_id = r.id
        GROUP BY r.id, d.code ORDER BY r.name
    """)
    ).mappings()
    return [dict(r) for r in rows]


def pending_counts(*, conn: Connection, channels: Sequence[str]) -> dict[str, int]:
    """Notifications waiting per channel (among ``channels``)."""
    rows = conn.execute(
        sa.text(
            "SELECT channel, count(*) FROM notifications WHERE status IN ('pending', 'sending') "
            "AND channel = ANY(:c) GROUP BY channel"
        ),
        {"c": list(channels)},
    ).all()
    return {str(r[0]): int(r[1]) for r in rows}
