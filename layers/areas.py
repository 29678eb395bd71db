"""Streets and communities: the administrative areas."""

from __future__ import annotations

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.engine import Connection


def communities(*, conn: Connection) -> gpd.GeoDataFrame:
    """All communities with their street, name and household count."""
    return gpd.read_postgis(
        sa.text("""
        SELECT c.id, c.code, c.name_zh, c.name_en, s.code AS street_code,
               coalesce(sum(g.households), 0)::int AS households, c.geom
        FROM communities c
        JOIN streets s ON s.id = c.street_id
        LEFT JOIN grids_current g ON g.community_id = c.id
        GROUP BY c.id, s.code ORDER BY c.code
    """),
        conn,
        geom_col="geom",
    )


def extent(*, conn: Connection) -> tuple[float, float, float, float] | None:
    """Bounding box (minx, miny, maxx, maxy) of all streets, or None when empty."""
    row = conn.execute(
        sa.text("""
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
        FROM (SELECT ST_Extent(geom) AS e FROM streets) x WHERE e IS NOT NULL
    """)
    ).first()
    return tuple(row) if row else None  # type: ignore[return-value]
