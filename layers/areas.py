"""Streets and communities: the administrative areas.

Query functions take ``community`` (a 12-digit code, or None for everything) so that
every page can be narrowed to one community.
"""

from __future__ import annotations

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

IN_AREA = "(CAST(:community AS text) IS NULL OR {code} = :community)"
"""SQL filter on a community code column; bind ``community`` (None = everywhere)."""


def communities(*, conn: Connection, community: str | None = None) -> gpd.GeoDataFrame:
    """Communities (all, or one) with their street, names and household count."""
    return gpd.read_postgis(
        sa.text(f"""
        SELECT c.id, c.code, c.name_zh, c.name_en, s.code AS street_code,
               coalesce(sum(g.households), 0)::int AS households, c.geom
        FROM communities c
        JOIN streets s ON s.id = c.street_id
        LEFT JOIN grids_current g ON g.community_id = c.id
        WHERE {IN_AREA.format(code="c.code")}
        GROUP BY c.id, s.code ORDER BY c.code
    """),
        conn,
        geom_col="geom",
        params={"community": community},
    )


def extent(
    *, conn: Connection, community: str | None = None
) -> tuple[float, float, float, float] | None:
    """Bounding box (minx, miny, maxx, maxy) of all streets or of one community."""
    row = conn.execute(
        sa.text("""
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
        FROM (SELECT CASE WHEN CAST(:community AS text) IS NULL
                          THEN (SELECT ST_Extent(geom) FROM streets)
                          ELSE (SELECT ST_Extent(geom) FROM communities
                                WHERE code = :community) END AS e) x
        WHERE e IS NOT NULL
    """),
        {"community": community},
    ).first()
    return tuple(row) if row else None  # type: ignore[return-value]


def community_choices(*, conn: Connection) -> list[tuple[str, str, str]]:
    """(code, name_zh, name_en) of every community, for area pickers."""
    return [
        tuple(r)
        for r in conn.execute(
            sa.text(  # type: ignore[misc]
                "SELECT code, name_zh, coalesce(name_en, name_zh) FROM communities ORDER BY code"
            )
        )
    ]


def area_geometry(*, conn: Connection, community: str | None = None):  # type: ignore[no-untyped-def]
    """The served area as one shapely geometry (EPSG:4326): all streets, or one community."""
    import shapely

    wkb = conn.execute(
        sa.text("""
        SELECT ST_AsBinary(CASE WHEN CAST(:community AS text) IS NULL
                                THEN (SELECT ST_Union(geom) FROM streets)
                                ELSE (SELECT geom FROM communities WHERE code = :community)
                           END)
    """),
        {"community": community},
    ).scalar()
    return shapely.from_wkb(bytes(wkb)) if wkb is not None else None


def community_extents(*, conn: Connection) -> dict[str, tuple[float, float, float, float]]:
    """Bounding box (minx, miny, maxx, maxy) of every community the caller sees, by code."""
    rows = conn.execute(
        sa.text("""
        SELECT code, ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom)
        FROM communities ORDER BY code""")
    ).all()
    return {str(r[0]): (r[1], r[2], r[3], r[4]) for r in rows}
