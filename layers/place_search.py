"""Finding a place by what a caller says: GridGov's own layers as the gazetteer.

A hotline caller names an address, a road, a community, a grid or a facility's code;
the operator types part of it and picks one of the matches. No geocoder outside: the
buildings' addresses, the roads' names, the communities' names, the current grids' codes
and the parts' codes are the search index. Each match is a WGS 84 point (a road: the
building nearest to its middle — major roads run along the area's outline, where a point
may fall outside it; a community: its office or a point inside; a grid: a point inside).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

MAX_PLACES = 20
KINDS = ("building", "road", "community", "grid", "part")


def find_places(
    *, conn: Connection, text: str, limit: int = 10, kinds: Collection[str] = KINDS
) -> list[dict[str, Any]]:
    """Places whose name, address or code contains ``text`` (case-insensitive).

    Returns kind (building, road, community, grid, part), ref (the row's id or code),
    name_zh, name_en, the community the place lies in (community_zh, community_en; none
    for roads, which cross communities), lon, lat; exact-start matches first, then by kind
    and name. ``text`` is matched literally (``%`` and ``_`` are not wildcards). ``kinds``
    narrows the search (a resident does not know grid or part codes).
    """
    needle = text.strip()
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown place kinds: {sorted(unknown)}")
    if not needle or not kinds:
        return []
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
        WITH hits AS (
            SELECT 'building' AS kind, 1 AS kind_rank, b.id::text AS ref,
                   b.address AS name_zh, b.address AS name_en, b.community_id, b.geom
            FROM buildings b WHERE 'building' = ANY(:kinds) AND b.address ILIKE :pattern
            UNION ALL
            SELECT 'road', 2, r.id::text, coalesce(r.name_zh, r.name_en),
                   coalesce(r.name_en, r.name_zh), NULL::integer,
                   coalesce((SELECT b.geom FROM buildings b
                             ORDER BY b.geom <-> ST_LineInterpolatePoint(r.geom, 0.5)
                             LIMIT 1), ST_LineInterpolatePoint(r.geom, 0.5))
            FROM roads r
            WHERE 'road' = ANY(:kinds) AND (r.name_zh ILIKE :pattern OR r.name_en ILIKE :pattern)
            UNION ALL
            SELECT 'community', 3, m.code, m.name_zh, coalesce(m.name_en, m.name_zh), m.id,
                   coalesce(m.office, ST_PointOnSurface(m.geom))
            FROM communities m
            WHERE 'community' = ANY(:kinds)
              AND (m.name_zh ILIKE :pattern OR m.name_en ILIKE :pattern)
            UNION ALL
            SELECT 'grid', 4, g.code, g.code, g.code, g.community_id, ST_PointOnSurface(g.geom)
            FROM grids_current g WHERE 'grid' = ANY(:kinds) AND g.code LIKE :pattern
            UNION ALL
            SELECT 'part', 5, p.part_code, p.part_code, p.part_code, NULL::integer, p.geom
            FROM parts p WHERE 'part' = ANY(:kinds) AND p.part_code LIKE :pattern
        )
        SELECT h.kind, h.ref, h.name_zh, h.name_en, m.name_zh AS community_zh,
               coalesce(m.name_en, m.name_zh) AS community_en,
               ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat
        FROM hits h LEFT JOIN communities m ON m.id = h.community_id
        ORDER BY (h.name_zh ILIKE :prefix OR h.name_en ILIKE :prefix) DESC, h.kind_rank,
                 length(h.name_zh), h.name_zh, h.ref
        LIMIT :limit
    """),
            {
                "pattern": pattern,
                "prefix": pattern[1:],
                "limit": max(1, min(limit, MAX_PLACES)),
                "kinds": list(kinds),
            },
        ).mappings()
    ]
