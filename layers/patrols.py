"""Patrol tracks: GPS points of grid workers and the lines derived from them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def derive_patrols(conn: Connection, tz: str = "Asia/Shanghai") -> int:
    """Rebuild the patrol lines (one per worker and local day) from patrol points."""
    conn.execute(sa.text("DELETE FROM patrols"))
    result = conn.execute(
        sa.text("""
        INSERT INTO patrols (worker_id, day, started_at, ended_at, n_points, length_m, geom)
        SELECT worker_id, (at AT TIME ZONE :tz)::date AS day, min(at), max(at), count(*),
               ST_Length(ST_MakeLine(geom ORDER BY at)::geography),
               ST_MakeLine(geom ORDER BY at)
        FROM patrol_points
        GROUP BY worker_id, (at AT TIME ZONE :tz)::date
        HAVING count(*) >= 2
    """),
        {"tz": tz},
    )
    return result.rowcount
