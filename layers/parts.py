"""Parts: public facilities with an owner, a status and a location."""

from __future__ import annotations

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.areas import IN_AREA


def parts(
    *, conn: Connection, limit: int | None = None, community: str | None = None
) -> gpd.GeoDataFrame:
    """Parts with their category (kind of facility) and status (at most ``limit``; None: all).

    No hidden cap: a caller that draws them checks the count first
    (:func:`layers.areas.feature_counts`) and draws counts per area instead.
    """
    return gpd.read_postgis(
        sa.text(f"""
        SELECT p.id, p.part_code, p.status, k.service_code, k.name_zh, k.name_en,
               m.service_code AS major_code, p.geom
        FROM parts p
        JOIN categories k ON k.id = p.category_id
        JOIN categories m ON m.id = k.parent_id
        LEFT JOIN communities c ON c.id = p.community_id
        WHERE {IN_AREA.format(code="c.code")}
        ORDER BY p.id LIMIT :limit
    """),
        conn,
        geom_col="geom",
        params={"limit": limit, "community": community},
    )
