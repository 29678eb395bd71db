"""Cases: reported problems (events and part faults) and their lifecycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.areas import IN_AREA


def open_cases(
    *, conn: Connection, now: datetime, limit: int = 5_000, community: str | None = None
) -> gpd.GeoDataFrame:
    """Open cases (new reports first, then overdue, then newest; at most ``limit``) with
    overdue flag at ``now``: a new report is always in the queue, however long it is.

    ``overdue`` is true when the deadline has passed at ``now``; ``hours_left``
    is negative by the hours overdue.
    """
    return gpd.read_postgis(
        sa.text(f"""
        SELECT c.id, c.case_no, c.status, s.name_zh AS status_zh, s.name_en AS status_en,
               c.urgency, c.source, k.service_code, k.name_zh AS category_zh,
               k.name_en AS category_en, k.kind, c.reported_at, c.deadline_at,
               coalesce(c.deadline_at < :now, false) AS overdue,
               round((extract(epoch FROM c.deadline_at - :now) / 3600)::numeric, 1)
                   AS hours_left,
               round((extract(epoch FROM :now - c.reported_at) / 3600)::numeric, 1) AS age_hours,
               g.code AS grid_code, m.name_zh AS community_zh, m.name_en AS community_en,
               d.name_zh AS department_zh, d.name_en AS department_en, c.geom
        FROM cases c
        JOIN case_statuses s ON s.code = c.status
        JOIN categories k ON k.id = c.category_id
        LEFT JOIN grids g ON g.id = c.grid_id
        LEFT JOIN communities m ON m.id = c.community_id
        LEFT JOIN departments d ON d.id = c.department_id
        WHERE s.is_open AND {IN_AREA.format(code="m.code")}
        ORDER BY c.status = 'reported' DESC, coalesce(c.deadline_at < :now, false) DESC,
                 c.reported_at DESC
        LIMIT :limit
    """),
        conn,
        geom_col="geom",
        params={"now": now, "limit": limit, "community": community},
    )


def count_open(*, conn: Connection, community: str | None = None) -> int:
    """Number of open cases (in one community, or everywhere)."""
    return int(
        conn.execute(
            sa.text(f"""
        SELECT count(*) FROM cases c
        JOIN case_statuses s ON s.code = c.status
        LEFT JOIN communities m ON m.id = c.community_id
        WHERE s.is_open AND {IN_AREA.format(code="m.code")}
    """),
            {"community": community},
        ).scalar_one()
    )


def as_of(*, conn: Connection) -> datetime | None:
    """The newest report time in the database (the demo's "now"), or None."""
    return conn.execute(sa.text("SELECT max(reported_at) FROM cases")).scalar()


@dataclass(frozen=True)
class Reporter:
    """A reporter of a case as every role sees it: name and phone masked."""

    name: str | None
    phone: str | None
    channel: str | None


@dataclass(frozen=True)
class CaseRecord:
    """One case as the caller may see it: what the case file shows, read by one query.

    ``status_zh``/``status_en`` are the names in ``case_statuses`` (the names people
    read); ``version`` is the optimistic lock an action must quote; ``pending_request``
    is a handler's request waiting for approval (``extension``, ``return``,
    ``suspension``) or None. Reporters are masked (:class:`Reporter`).
    """

    id: int
    case_no: str
    status: str
    status_zh: str
    status_en: str
    version: int
    pending_request: str | None
    urgency: str
    source: str
    description: str | None
    media: list[Any]
    service_code: str
    category_zh: str
    category_en: str
    reported_at: datetime
    deadline_at: datetime | None
    closed_at: datetime | None
    rework_count: int
    reopen_count: int
    grid_code: str | None
    community_zh: str | None
    community_en: str | None
    department_code: str | None
    department_zh: str | None
    department_en: str | None
    dispatch_rule: str | None
    dispatch_reason: str | None
    part_code: str | None
    lon: float
    lat: float
    reporters: tuple[Reporter, ...] = field(default_factory=tuple)
    location_accuracy_m: float | None = None
    """How good the reported position is (the phone's GPS, metres); None when unknown."""


def case_record(*, conn: Connection, case_id: int) -> CaseRecord | None:
    """One case with its status names, lock, routing, place and masked reporters, or None
    when it does not exist or row-level security hides it."""
    row = (
        conn.execute(
            sa.text("""
        SELECT c.id, c.case_no, c.status, s.name_zh AS status_zh, s.name_en AS status_en,
               c.version, c.pending_request, c.urgency, c.source, c.description,
               coalesce(c.media, '[]'::jsonb) AS media, k.service_code,
               k.name_zh AS category_zh, k.name_en AS category_en, c.reported_at,
               c.deadline_at, c.closed_at, c.rework_count, c.reopen_count,
               g.code AS grid_code, m.name_zh AS community_zh, m.name_en AS community_en,
               d.code AS department_code, d.name_zh AS department_zh,
               d.name_en AS department_en, c.dispatch_rule, c.dispatch_reason, p.part_code,
               ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, c.location_accuracy_m,
               (SELECT coalesce(json_agg(json_build_object(
                           'name', r.name, 'phone', r.phone, 'channel', r.channel)
                           ORDER BY r.id), '[]')
                FROM reporters_masked r WHERE r.case_id = c.id) AS reporters
        FROM cases c
        JOIN case_statuses s ON s.code = c.status
        JOIN categories k ON k.id = c.category_id
        LEFT JOIN grids g ON g.id = c.grid_id
        LEFT JOIN communities m ON m.id = c.community_id
        LEFT JOIN departments d ON d.id = c.department_id
        LEFT JOIN parts p ON p.id = c.part_id
        WHERE c.id = :id
    """),
            {"id": case_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    values = dict(row)
    values["media"] = list(values["media"] or [])
    values["reporters"] = tuple(Reporter(**r) for r in values["reporters"])
    return CaseRecord(**values)


def find_case_id(*, conn: Connection, case_no: str) -> int | None:
    """The id of the case numbered ``case_no`` (spaces ignored) if the caller may see it."""
    return conn.execute(
        sa.text("SELECT id FROM cases WHERE case_no = :n"), {"n": "".join(case_no.split())}
    ).scalar()


def status_names(*, conn: Connection) -> dict[str, tuple[str, str]]:
    """Status code -> (name_zh, name_en) from ``case_statuses``: the names people read."""
    return {
        r.code: (r.name_zh, r.name_en or r.name_zh)
        for r in conn.execute(sa.text("SELECT code, name_zh, name_en FROM case_statuses"))
    }


def case_history(*, conn: Connection, case_id: int) -> pd.DataFrame:
    """Every recorded step of a case, oldest first, with its attachments (photo records)."""
    return pd.read_sql(
        sa.text("""
        SELECT at, action, from_status, to_status, actor, role, reason, attachments
        FROM case_events WHERE case_id = :id ORDER BY at, id
    """),
        conn,
        params={"id": case_id},
    )
