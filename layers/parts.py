"""Parts: public facilities with an owner, a status and a location."""

from __future__ import annotations

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.engine import Connection


def parts(*, conn: Connection, limit: int = 20_000) -> gpd.GeoDataFrame:
    """Parts with their category (kind of facility) and status, at most ``limit``."""
    return gpd.read_postgis(
        sa.text("""
        SELECT p.id, p.part_code, p.status, k.service_code, k.name_zh, k.name_en,
               m.service_code AS major_code, p.geom
        FROM parts p
        JOIN categories k ON k.id = p.category_id
        JOIN categories m ON m.id = k.parent_id
        ORDER BY p.id LIMIT :limit
    """),
        conn,
        geom_col="geom",
        params={"limit": limit},
    )
