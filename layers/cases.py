"""Cases: reported problems (events and part faults) and their lifecycle."""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.engine import Connection


def open_cases(*, conn: Connection, now: datetime, limit: int = 5_000) -> gpd.GeoDataFrame:
    """Open cases (newest first, at most ``limit``), with urgency and overdue flag at ``now``.

    ``overdue`` is true when the deadline has passed at ``now``; ``hours_left``
    is negative by the hours overdue.
    """
    return gpd.read_postgis(
        sa.text("""
        SELECT c.id, c.case_no, c.status, s.name_zh AS status_zh, s.name_en AS status_en,
               c.urgency, c.source, k.service_code, k.name_zh AS category_zh,
               k.name_en AS category_en, k.kind, c.reported_at, c.deadline_at,
               coalesce(c.deadline_at < :now, false) AS overdue,
               round((extract(epoch FROM c.deadline_at - :now) / 3600)::numeric, 1)
                   AS hours_left,
               g.code AS grid_code, c.geom
        FROM cases c
        JOIN case_statuses s ON s.code = c.status
        JOIN categories k ON k.id = c.category_id
        LEFT JOIN grids g ON g.id = c.grid_id
        WHERE s.is_open
        ORDER BY c.reported_at DESC LIMIT :limit
    """),
        conn,
        geom_col="geom",
        params={"now": now, "limit": limit},
    )


def count_open(*, conn: Connection) -> int:
    """Number of open cases."""
    return int(
        conn.execute(
            sa.text(
                "SELECT count(*) FROM cases c"
                " JOIN case_statuses s ON s.code = c.status WHERE s.is_open"
            )
        ).scalar_one()
    )


def as_of(*, conn: Connection) -> datetime | None:
    """The newest report time in the database (the demo's "now"), or None."""
    return conn.execute(sa.text("SELECT max(reported_at) FROM cases")).scalar()
