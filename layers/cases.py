"""Cases: reported problems (events and part faults) and their lifecycle."""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.areas import IN_AREA


def open_cases(
    *, conn: Connection, now: datetime, limit: int = 5_000, community: str | None = None
) -> gpd.GeoDataFrame:
    """Open cases (overdue first, then newest; at most ``limit``) with overdue flag at ``now``.

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
        ORDER BY coalesce(c.deadline_at < :now, false) DESC, c.reported_at DESC
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


def case_detail(*, conn: Connection, case_id: int) -> dict | None:
    """One case with its category, place, handler and masked reporters, or None."""
    row = (
        conn.execute(
            sa.text("""
        SELECT c.id, c.case_no, c.status, s.name_zh AS status_zh, s.name_en AS status_en,
               c.urgency, c.source, c.description, c.media, k.service_code,
               k.name_zh AS category_zh, k.name_en AS category_en, c.reported_at,
               c.deadline_at, c.closed_at, c.rework_count, c.reopen_count, c.version,
               g.code AS grid_code, m.name_zh AS community_zh, m.name_en AS community_en,
               d.code AS department_code, d.name_zh AS department_zh,
               d.name_en AS department_en, p.part_code,
               ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat
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
    detail = dict(row)
    detail["reporters"] = [
        dict(r)
        for r in conn.execute(
            sa.text(
                "SELECT name, phone, channel FROM reporters_masked WHERE case_id = :id ORDER BY id"
            ),
            {"id": case_id},
        ).mappings()
    ]
    return detail


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
