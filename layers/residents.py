"""The residents' app's own rows: private links, follows, feedback and the public figures.

A report made in ``/report/`` or a follow of an existing case is one ``resident_links``
row (migration 0080): the case, the SHA-256 of the link's secret token, and the client
id the phone made, so that an outbox re-sending it stores it once. Feedback (a rating
or "not fixed") is one ``resident_feedback`` row per client id; the case itself moves
through ``case_transition`` (:mod:`layers.workflow.transitions`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.errors import GridGovError
from layers.workflow.transitions import refusals_as_errors


class LinkTaken(GridGovError):
    """A client id or a private-link token that is already stored."""

    code = "client_id_taken"
    kind = "conflict"


def token_hash(token: str) -> bytes:
    """The stored form of a private link's secret token (its SHA-256)."""
    return hashlib.sha256(token.encode()).digest()


def link_by_client_id(*, conn: Connection, client_id: str) -> dict[str, Any] | None:
    """The link a client id made (a re-sent report or follow), with its case number."""
    row = (
        conn.execute(
            sa.text("""
        SELECT l.id, l.case_id, c.case_no, l.token_hash, l.relation, l.kind
        FROM resident_links l JOIN cases c ON c.id = l.case_id WHERE l.client_id = :cid
    """),
            {"cid": client_id},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def link_for_token(*, conn: Connection, case_no: str, token: str) -> dict[str, Any] | None:
    """The link of case ``case_no`` whose secret token is ``token`` (None: no such link)."""
    row = (
        conn.execute(
            sa.text("""
        SELECT l.id, l.case_id, c.case_no, l.relation, l.kind
        FROM resident_links l JOIN cases c ON c.id = l.case_id
        WHERE l.token_hash = :h AND c.case_no = :no
    """),
            {"h": token_hash(token), "no": case_no},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def add_link(  # noqa: PLR0913 (the fields of one link, keyword-only)
    *,
    conn: Connection,
    case_id: int,
    token: str,
    client_id: str,
    relation: str,
    kind: str,
    device_hash: str | None,
    address_key: str | None,
    reporter_id: int | None = None,
) -> int:
    """Store a report's or follow's private link; return its id.

    Raises
    ------
    LinkTaken
        The client id or the token is already stored (a race of two re-sends, or a token
        used twice).
    """
    params = {
        "case_id": case_id,
        "h": token_hash(token),
        "cid": client_id,
        "rel": relation,
        "kind": kind,
        "dev": device_hash,
        "addr": address_key,
        "rep": reporter_id,
    }
    try:
        with conn.begin_nested():
            return int(
                conn.execute(
                    sa.text("""
            INSERT INTO resident_links (case_id, token_hash, client_id, relation, kind,
                                        device_hash, address_key, reporter_id)
            VALUES (:case_id, :h, :cid, :rel, :kind, :dev, :addr, :rep) RETURNING id
        """),
                    params,
                ).scalar_one()
            )
    except sa.exc.IntegrityError as exc:
        raise LinkTaken("client_id or token: already used; make new ones") from exc


def add_reporter(*, conn: Connection, case_id: int, name: str | None, phone: str | None) -> int:
    """Add a resident (maybe anonymous) as a reporter of a case; return the reporter id."""
    with refusals_as_errors(conn):
        return int(
            conn.execute(
                sa.text("SELECT resident_add_reporter(:c, :n, :p)"),
                {"c": case_id, "n": name, "p": phone},
            ).scalar_one()
        )


def case_by_no(*, conn: Connection, case_no: str) -> dict[str, Any] | None:
    """A case's public state by its number: status (names), department, times."""
    row = (
        conn.execute(
            sa.text("""
        SELECT c.id, c.case_no, c.status, s.name_zh AS status_zh, s.name_en AS status_en,
               s.open311, c.version, c.reported_at, c.dispatched_at, c.deadline_at,
               c.handled_at, c.closed_at, c.satisfaction, c.reopen_count, c.merged_into,
               k.service_code, d.name_zh AS department_zh, d.name_en AS department_en
        FROM cases c
        JOIN case_statuses s ON s.code = c.status
        JOIN categories k ON k.id = c.category_id
        LEFT JOIN departments d ON d.id = c.department_id
        WHERE c.case_no = :no
    """),
            {"no": case_no},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def timeline(*, conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """A case's history for its resident, oldest first: action, statuses, time, the reason,
    attachments and the department named by a dispatch (never the actor)."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
        SELECT e.id, e.at, e.action, e.from_status, e.to_status, e.role, e.reason,
               e.attachments
        FROM case_events e WHERE e.case_id = :id ORDER BY e.at, e.id
    """),
            {"id": case_id},
        ).mappings()
    ]


def department_names(*, conn: Connection) -> dict[int, tuple[str, str | None]]:
    """Department id → (name_zh, name_en)."""
    return {
        int(r.id): (r.name_zh, r.name_en)
        for r in conn.execute(sa.text("SELECT id, name_zh, name_en FROM departments"))
    }


def feedback_by_client_id(*, conn: Connection, client_id: str) -> dict[str, Any] | None:
    """The feedback a client id gave (a re-sent rating)."""
    row = (
        conn.execute(
            sa.text("""
        SELECT f.id, f.case_id, f.link_id, f.verdict, f.satisfaction, f.reason
        FROM resident_feedback f WHERE f.client_id = :cid
    """),
            {"cid": client_id},
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def add_feedback(
    *,
    conn: Connection,
    case_id: int,
    link_id: int,
    client_id: str,
    verdict: str,
    satisfaction: int | None,
    reason: str | None,
    photos: list[dict[str, Any]],
) -> int:
    """Store one rating or "not fixed"; return its id."""
    return int(
        conn.execute(
            sa.text("""
        INSERT INTO resident_feedback (case_id, link_id, client_id, verdict, satisfaction, reason,
                                       photos)
        VALUES (:case_id, :link, :cid, :verdict, :sat, :reason, CAST(:photos AS jsonb))
        RETURNING id
    """),
            {
                "case_id": case_id,
                "link": link_id,
                "cid": client_id,
                "verdict": verdict,
                "sat": satisfaction,
                "reason": reason,
                "photos": json.dumps(photos),
            },
        ).scalar_one()
    )


def feedback_of_case(*, conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """Every rating and "not fixed" of a case, oldest first."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
        SELECT verdict, satisfaction, reason, at FROM resident_feedback
        WHERE case_id = :id ORDER BY at, id
    """),
            {"id": case_id},
        ).mappings()
    ]


def refresh_stats(*, conn: Connection, max_age: timedelta, days: int = 365) -> bool:
    """Rebuild the public figures when older than ``max_age``; True when rebuilt."""
    with refusals_as_errors(conn):
        return bool(
            conn.execute(
                sa.text("SELECT resident_stats_refresh(:age, :days)"),
                {"age": max_age, "days": days},
            ).scalar_one()
        )


def build_stats(*, conn: Connection, start: datetime, end: datetime) -> int:
    """Rebuild the public figures over cases reported in [start, end); return rows."""
    return int(
        conn.execute(
            sa.text("SELECT resident_stats_build(:s, :e)"), {"s": start, "e": end}
        ).scalar_one()
    )


def stats_rows(*, conn: Connection) -> list[dict[str, Any]]:
    """The stored public figures, departments then communities, by code."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
        SELECT unit_kind, unit_code, name_zh, name_en, deadline_closed, on_time, handled,
               median_hours_to_fix, rated, satisfied, ever_closed, reopened, window_start,
               window_end, refreshed_at
        FROM resident_stats ORDER BY unit_kind, unit_code
    """)
        ).mappings()
    ]


def attach_photos(
    *, conn: Connection, case_id: int, client_id: str, media: list[dict[str, Any]]
) -> None:
    """Set the photos of a case this client just reported (records of ``layers.media``)."""
    with refusals_as_errors(conn):
        conn.execute(
            sa.text("SELECT resident_attach_photos(:c, :cid, CAST(:m AS jsonb))"),
            {"c": case_id, "cid": client_id, "m": json.dumps(media)},
        )


def case_media(*, conn: Connection, case_id: int) -> list[dict[str, Any]]:
    """The photos a case was reported with (``cases.media``)."""
    value = conn.execute(
        sa.text("SELECT media FROM cases WHERE id = :id"), {"id": case_id}
    ).scalar()
    return [m for m in value or [] if isinstance(m, dict)]
