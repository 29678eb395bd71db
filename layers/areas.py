"""Districts, streets and communities: the administrative areas.

Query functions take ``community`` — an area code of any level (a 6-digit district,
9-digit street or 12-digit community; None for everything) — so that every page can be
narrowed to one area: codes are hierarchical, so an area is every community whose code
starts with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import geopandas as gpd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

IN_AREA = (
    "(CAST(:community AS text) IS NULL OR left({code}, length(CAST(:community AS text)))"
    " = :community)"
)
"""SQL filter on a community code column; bind ``community``: an area code of any level
(district, street or community; None = everywhere)."""
AREA_TABLE = """(SELECT code::text AS code, geom FROM communities
                  WHERE length(CAST(:community AS text)) = 12 AND code = :community
                  UNION ALL
                  SELECT code::text, geom FROM streets
                  WHERE length(CAST(:community AS text)) < 12
                    AND left(code, length(CAST(:community AS text))) = :community)"""
"""The polygons of area ``:community``: the community, or the streets of a street/district."""


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
    """Bounding box (minx, miny, maxx, maxy) of all streets or of one area (any level)."""
    row = conn.execute(
        sa.text(f"""
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
        FROM (SELECT CASE WHEN CAST(:community AS text) IS NULL
                          THEN (SELECT ST_Extent(geom) FROM streets)
                          ELSE (SELECT ST_Extent(geom) FROM {AREA_TABLE} a) END AS e) x
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
    """The served area as one shapely geometry (EPSG:4326): all streets, or one area."""
    import shapely

    wkb = conn.execute(
        sa.text(f"""
        SELECT ST_AsBinary(CASE WHEN CAST(:community AS text) IS NULL
                                THEN (SELECT ST_Union(geom) FROM streets)
                                ELSE (SELECT ST_Union(geom) FROM {AREA_TABLE} a)
                           END)
    """),
        {"community": community},
    ).scalar()
    return shapely.from_wkb(bytes(wkb)) if wkb is not None else None


def community_extents(*, conn: Connection) -> dict[str, tuple[float, float, float, float]]:
    """Bounding box (minx, miny, maxx, maxy) of every area the caller sees, by code.

    Communities, and the streets and districts holding them (a district's box from its
    streets, so that a district with no row in ``districts`` still has one).
    """
    rows = conn.execute(
        sa.text("""
        WITH seen AS (SELECT c.code, c.geom, trim(s.code) AS street
                      FROM communities c JOIN streets s ON s.id = c.street_id)
        SELECT trim(code), ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (
            SELECT code, ST_Extent(geom)::geometry AS e FROM seen GROUP BY code
            UNION ALL
            SELECT street, ST_Extent(geom)::geometry FROM seen GROUP BY street
            UNION ALL
            SELECT left(street, 6), ST_Extent(geom)::geometry FROM seen GROUP BY left(street, 6)
        ) x ORDER BY 1""")
    ).all()
    return {str(r[0]): (r[1], r[2], r[3], r[4]) for r in rows}


def area_choices(*, conn: Connection) -> list[tuple[str, str, str, str, str | None]]:
    """(level, code, name_zh, name_en, parent code) of every area the caller sees.

    The districts and streets holding the communities the caller sees (row-level
    security decides which), then those communities; a district without a row in
    ``districts`` is named after the city when its code is the city's, else by code.
    """
    rows = conn.execute(
        sa.text("""
        WITH seen AS (SELECT c.code, c.name_zh, coalesce(c.name_en, c.name_zh) AS name_en,
                             trim(s.code) AS street, s.name_zh AS street_zh,
                             coalesce(s.name_en, s.name_zh) AS street_en
                      FROM communities c JOIN streets s ON s.id = c.street_id),
        dist AS (SELECT DISTINCT left(street, 6) AS code FROM seen)
        SELECT 'district', d.code, coalesce(x.name_zh, y.name, d.code),
               coalesce(x.name_en, x.name_zh, y.name_en, d.code), NULL
        FROM dist d LEFT JOIN districts x ON x.code = d.code
        LEFT JOIN city y ON y.admin_code = d.code
        UNION ALL
        SELECT DISTINCT 'street', street, street_zh, street_en, left(street, 6) FROM seen
        UNION ALL
        SELECT 'community', trim(code), name_zh, name_en, street FROM seen
        ORDER BY 2""")
    ).all()
    return [
        (str(a), str(b), str(c), str(d), None if e is None else str(e)) for a, b, c, d, e in rows
    ]


@dataclass(frozen=True)
class FeatureCounts:
    """True counts of what the district map can draw (in one area, or everywhere)."""

    communities: int
    grids: int
    parts: int
    open_cases: int
    overdue: int


def feature_counts(
    *, conn: Connection, now: datetime, community: str | None = None
) -> FeatureCounts:
    """How many communities, current grids, parts and open (overdue at ``now``) cases exist.

    Counted in SQL, never capped; row-level security decides what the caller sees.
    Parts and cases outside every community count only when ``community`` is None.
    """
    row = conn.execute(
        sa.text(f"""
        SELECT (SELECT count(*) FROM communities c WHERE {IN_AREA.format(code="c.code")}),
               (SELECT count(*) FROM grids_current g JOIN communities c ON c.id = g.community_id
                WHERE {IN_AREA.format(code="c.code")}),
               (SELECT count(*) FROM parts p LEFT JOIN communities c ON c.id = p.community_id
                WHERE {IN_AREA.format(code="c.code")}),
               k.n, k.overdue
        FROM (SELECT count(*) AS n, count(*) FILTER (WHERE x.deadline_at < :now) AS overdue
              FROM cases x JOIN case_statuses s ON s.code = x.status
              LEFT JOIN communities c ON c.id = x.community_id
              WHERE s.is_open AND {IN_AREA.format(code="c.code")}) k
    """),
        {"community": community, "now": now},
    ).one()
    return FeatureCounts(*(int(v) for v in row))


def area_counts(
    *, conn: Connection, now: datetime, community: str | None = None, simplify_deg: float = 0.0
) -> gpd.GeoDataFrame:
    """Per community: households, current grids, parts, open and overdue cases, its outline.

    One ``GROUP BY`` per layer on integer ids: what a whole city's map draws instead
    of every feature. ``simplify_deg`` simplifies the outlines (topology kept; 0: as
    stored) so that thousands of communities stay light in the browser.
    """
    return gpd.read_postgis(
        sa.text(f"""
        SELECT c.id, c.code, c.name_zh, coalesce(c.name_en, c.name_zh) AS name_en,
               s.code AS street_code, coalesce(g.households, 0)::int AS households,
               coalesce(g.n, 0)::int AS grids, coalesce(p.n, 0)::int AS parts,
               coalesce(k.n, 0)::int AS open_cases, coalesce(k.overdue, 0)::int AS overdue,
               CASE WHEN :tol > 0 THEN ST_SimplifyPreserveTopology(c.geom, :tol)
                    ELSE c.geom END AS geom
        FROM communities c
        JOIN streets s ON s.id = c.street_id
        LEFT JOIN (SELECT community_id, count(*) AS n, sum(households) AS households
                   FROM grids_current GROUP BY community_id) g ON g.community_id = c.id
        LEFT JOIN (SELECT community_id, count(*) AS n FROM parts GROUP BY community_id) p
               ON p.community_id = c.id
        LEFT JOIN (SELECT x.community_id, count(*) AS n,
                          count(*) FILTER (WHERE x.deadline_at < :now) AS overdue
                   FROM cases x JOIN case_statuses st ON st.code = x.status
                   WHERE st.is_open GROUP BY x.community_id) k ON k.community_id = c.id
        WHERE {IN_AREA.format(code="c.code")}
        ORDER BY c.code
    """),
        conn,
        geom_col="geom",
        params={"community": community, "now": now, "tol": simplify_deg},
    )
