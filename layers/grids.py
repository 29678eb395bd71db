"""Grids: the ~400-household patches that grid workers walk, with their history."""

from __future__ import annotations

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.areas import IN_AREA


def current_grids(*, conn: Connection, community: str | None = None) -> gpd.GeoDataFrame:
    """Grids in force today, with community and assigned worker code (no personal data)."""
    return gpd.read_postgis(
        sa.text(f"""
        SELECT g.id, g.code, g.households, c.code AS community_code, c.name_zh AS community_zh,
               c.name_en AS community_en, w.code AS worker_code, g.valid_from, g.geom
        FROM grids_current g
        JOIN communities c ON c.id = g.community_id
        LEFT JOIN workers w ON w.id = g.worker_id
        WHERE {IN_AREA.format(code="c.code")}
        ORDER BY g.code
    """),
        conn,
        geom_col="geom",
        params={"community": community},
    )
