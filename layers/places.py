"""Places for the leader's maps: community outlines and names, major roads, counts per
H3 cell and major class for two periods (hotspots and their trend), the nearest named road
of a point, and the cases of a place (drill-down).

Every query reads through row-level security: a community supervisor sees only their own.
"""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.areas import IN_AREA
from layers.rollups import daily_cells


def community_outlines(*, conn: Connection, community: str | None = None) -> gpd.GeoDataFrame:
    """Communities (code, name_zh, name_en, geom) and a label point inside each (lon, lat)."""
    return gpd.read_postgis(
        sa.text(f"""
        SELECT c.code, c.name_zh, coalesce(c.name_en, c.name_zh) AS name_en,
               ST_X(ST_PointOnSurface(c.geom)) AS lon, ST_Y(ST_PointOnSurface(c.geom)) AS lat,
               ST_SimplifyPreserveTopology(c.geom, 0.00002) AS geom
        FROM communities c WHERE {IN_AREA.format(code="c.code")} ORDER BY c.code"""),
        conn,
        geom_col="geom",
        params={"community": community},
    )


def major_roads(
    *, conn: Connection, bounds: tuple[float, float, float, float] | None = None
) -> gpd.GeoDataFrame:
    """Major roads (name_zh, name_en, geom) crossing ``bounds`` (minx, miny, maxx, maxy)."""
    box = bounds or (-180.0, -90.0, 180.0, 90.0)
    return gpd.read_postgis(
        sa.text("""
        SELECT coalesce(name_zh, '') AS name_zh, coalesce(name_en, name_zh, '') AS name_en,
               ST_SimplifyPreserveTopology(geom, 0.00002) AS geom
        FROM roads
        WHERE road_class = 'major'
          AND geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326)"""),
        conn,
        geom_col="geom",
        params=dict(zip(("minx", "miny", "maxx", "maxy"), box, strict=True)),
    )


def cell_major_counts(
    *,
    conn: Connection,
    start: date,
    end: date,
    categories: list[str] | None = None,
    community: str | None = None,
) -> pd.DataFrame:
    """Cases per H3 r9 cell, community and major class in [start, end], from the rollup
    (cell, community, name_zh, name_en, major, major_zh, major_en, n)."""
    return pd.read_sql(
        sa.text(f"""
        SELECT d.h3_r9 AS cell, a.code AS community, a.name_zh,
               coalesce(a.name_en, a.name_zh) AS name_en,
               coalesce(m.service_code, k.service_code) AS major,
               coalesce(m.name_zh, k.name_zh) AS major_zh,
               coalesce(m.name_en, k.name_en) AS major_en, sum(d.n)::bigint AS n
        {daily_cells(communities="JOIN")}
        GROUP BY 1, 2, 3, 4, 5, 6, 7"""),
        conn,
        params={"start": start, "end": end, "cats": categories, "community": community},
    )


def weekly_cell_counts(
    *,
    conn: Connection,
    start: date,
    end: date,
    categories: list[str] | None = None,
    community: str | None = None,
) -> pd.DataFrame:
    """Cases per week (its Monday) and H3 r9 cell in [start, end] (week, cell, n)."""
    return pd.read_sql(
        sa.text(f"""
        SELECT date_trunc('week', d.day)::date AS week, d.h3_r9 AS cell, sum(d.n)::bigint AS n
        {daily_cells()}
        GROUP BY 1, 2 ORDER BY 1"""),
        conn,
        params={"start": start, "end": end, "cats": categories, "community": community},
    )


def nearest_roads(
    *, conn: Connection, points: list[tuple[float, float]], max_m: float = 300.0
) -> list[tuple[str, str] | None]:
    """The nearest named major road (name_zh, name_en) of each (lon, lat), or None when no
    named major road lies within ``max_m`` metres."""
    if not points:
        return []
    rows = conn.execute(
        sa.text("""
        SELECT p.i, r.name_zh, r.name_en
        FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[]))
             WITH ORDINALITY AS p(lon, lat, i)
        LEFT JOIN LATERAL (
            SELECT x.name_zh, coalesce(x.name_en, x.name_zh) AS name_en
            FROM roads x
            WHERE x.road_class = 'major' AND coalesce(x.name_zh, '') <> ''
              -- a box on the geometry index first (a degree of longitude is > 50 km up
              -- to 60° of latitude), then the distance in metres
              AND x.geom && ST_Expand(ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326),
                                      :max_m / 50000.0)
              AND ST_DWithin(x.geom::geography,
                             ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography, :max_m)
            ORDER BY x.geom <-> ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)
            LIMIT 1) r ON true
        ORDER BY p.i"""),
        {"lons": [p[0] for p in points], "lats": [p[1] for p in points], "max_m": max_m},
    ).all()
    return [(str(r[1]), str(r[2])) if r[1] is not None else None for r in rows]


def place_cases(
    *,
    conn: Connection,
    start: date,
    end: date,
    cells: list[int] | None = None,
    grid_code: str | None = None,
    categories: list[str] | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """Cases reported in [start, end] (local days) in the H3 r9 ``cells`` or the grid
    ``grid_code``, newest first: case_no, reported_at, major and minor class names,
    status names, source, grid, community. No reporter data."""
    if cells is None and grid_code is None:
        raise ValueError("place_cases needs cells or grid_code")
    return pd.read_sql(
        sa.text("""
        SELECT c.case_no, c.reported_at, coalesce(m.name_zh, k.name_zh) AS major_zh,
               coalesce(m.name_en, k.name_en) AS major_en, k.name_zh AS category_zh,
               k.name_en AS category_en, s.name_zh AS status_zh, s.name_en AS status_en,
               c.source, g.code AS grid, a.name_zh AS community_zh,
               coalesce(a.name_en, a.name_zh) AS community_en
        FROM cases c JOIN categories k ON k.id = c.category_id
        LEFT JOIN categories m ON m.id = k.parent_id
        JOIN case_statuses s ON s.code = c.status
        LEFT JOIN grids g ON g.id = c.grid_id
        LEFT JOIN communities a ON a.id = c.community_id
        WHERE (c.reported_at AT TIME ZONE :tz)::date BETWEEN :start AND :end
          AND (CAST(:cells AS bigint[]) IS NULL OR c.h3_r9 = ANY(:cells))
          AND (CAST(:grid AS text) IS NULL OR g.code = :grid)
          AND (CAST(:cats AS text[]) IS NULL OR k.service_code = ANY(:cats)
               OR m.service_code = ANY(:cats))
        ORDER BY c.reported_at DESC LIMIT :limit"""),
        conn,
        params={
            "start": start,
            "end": end,
            "cells": cells,
            "grid": grid_code,
            "cats": categories,
            "limit": limit,
            "tz": _tz(),
        },
    )


def _tz() -> str:
    from city import time_zone

    return time_zone().key
