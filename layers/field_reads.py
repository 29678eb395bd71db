"""What the field app reads: categories, my grids, my plan, my queue, parts, a case's place.

Every query runs in the user's unit of work: row-level security decides what is there
(a grid worker sees its area, a handler its department's cases). Geometry leaves as
GeoJSON built by PostGIS (``ST_AsGeoJSON``), coordinates WGS 84.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

QUEUE_LIMIT = 200
PARTS_LIMIT = 2_000
HANDLER_STATUSES = ("dispatched", "in_handling")


def categories(*, conn: Connection) -> list[dict[str, Any]]:
    """Minor classes of the catalogue with their major class, zh and en."""
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
        SELECT k.service_code, k.kind, k.name_zh, k.name_en, p.name_zh AS major_zh,
               p.name_en AS major_en
        FROM categories k JOIN categories p ON p.id = k.parent_id
        WHERE k.level = 2 ORDER BY k.service_code
    """)
        ).mappings()
    ]


def grid_features(*, conn: Connection, worker_id: int | None, limit: int = 50) -> dict[str, Any]:
    """GeoJSON FeatureCollection of my current grids (``worker_id`` None: all in scope)."""
    rows = conn.execute(
        sa.text("""
        SELECT g.id, g.code, g.households, c.name_zh, c.name_en, ST_AsGeoJSON(g.geom, 6) AS gj
        FROM grids_current g JOIN communities c ON c.id = g.community_id
        WHERE CAST(:w AS integer) IS NULL OR g.worker_id = :w
        ORDER BY g.code LIMIT :n
    """),
        {"w": worker_id, "n": limit},
    )
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": json.loads(r.gj),
                "properties": {
                    "grid_id": r.id,
                    "code": r.code.strip(),
                    "households": r.households,
                    "community_zh": r.name_zh,
                    "community_en": r.name_en,
                },
            }
            for r in rows
        ],
    }


def grid_ids(*, conn: Connection, worker_id: int | None) -> list[int]:
    """Ids of my current grids (``worker_id`` None: every current grid the scope sees)."""
    return [
        int(i)
        for i in conn.execute(
            sa.text("""
            SELECT id FROM grids_current
            WHERE CAST(:w AS integer) IS NULL OR worker_id = :w ORDER BY id
        """),
            {"w": worker_id},
        ).scalars()
    ]


def plan_of(*, conn: Connection, worker_id: int, day: date) -> dict[str, Any] | None:
    """The patrol plan of ``day`` (else the latest before it): stops as stored, route GeoJSON."""
    row = conn.execute(
        sa.text("""
        SELECT id, plan_date, stops, length_m, duration_s, ST_AsGeoJSON(geom, 6) AS gj
        FROM patrol_plans WHERE worker_id = :w AND plan_date <= :d
        ORDER BY plan_date DESC LIMIT 1
    """),
        {"w": worker_id, "d": day},
    ).first()
    if row is None:
        return None
    return {
        "plan_id": row.id,
        "day": row.plan_date,
        "stops": list(row.stops),
        "length_m": float(row.length_m),
        "duration_s": float(row.duration_s),
        "route": json.loads(row.gj),
    }


def part_points(*, conn: Connection, part_codes: list[str]) -> dict[str, tuple[float, float]]:
    """lon, lat of the parts with these codes (as the scope sees them)."""
    if not part_codes:
        return {}
    return {
        r.part_code: (float(r.lon), float(r.lat))
        for r in conn.execute(
            sa.text(
                "SELECT part_code, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM parts "
                "WHERE part_code = ANY(:c)"
            ),
            {"c": part_codes},
        )
    }


def visited(
    *,
    conn: Connection,
    worker_id: int,
    day: date,
    points: list[tuple[float, float]],
    radius_m: float,
) -> list[bool]:
    """For each point: did one of the worker's fixes of ``day`` (local date) come within
    ``radius_m`` of it."""
    if not points:
        return []
    rows = conn.execute(
        sa.text("""
        SELECT i, EXISTS (
            SELECT 1 FROM patrol_points p
            WHERE p.worker_id = :w
              AND p.at >= CAST(:d AS date)::timestamp AT TIME ZONE gridgov_time_zone()
              AND p.at < (CAST(:d AS date) + 1)::timestamp AT TIME ZONE gridgov_time_zone()
              AND p.geom && ST_Expand(ST_SetSRID(ST_MakePoint(x, y), 4326), :deg)
              AND ST_DWithin(p.geom::geography, ST_SetSRID(ST_MakePoint(x, y), 4326)::geography,
                             :r)) AS done
        FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS s(x, y, i)
        ORDER BY i
    """),
        {
            "w": worker_id,
            "d": day,
            "xs": [p[0] for p in points],
            "ys": [p[1] for p in points],
            "r": radius_m,
            "deg": 3 * radius_m / 111_320.0,
        },
    )
    return [bool(r.done) for r in rows]


def worker_queue(
    *,
    conn: Connection,
    grid_ids: list[int],
    actor: str,
    lon: float | None,
    lat: float | None,
) -> list[dict[str, Any]]:
    """Cases to verify (reported by others, not verified yet) and to check (handled) in
    these grids; by deadline, then distance from (lon, lat)."""
    return _queue(
        conn,
        """c.grid_id = ANY(:grids) AND (c.status = 'handled' OR (
               c.status = 'reported' AND c.source <> 'patrol' AND NOT EXISTS (
                   SELECT 1 FROM case_events e WHERE e.case_id = c.id
                   AND e.action IN ('verify', 'report') AND e.actor = :actor)
               AND NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id
                               AND e.action = 'verify')))""",
        {"grids": grid_ids, "actor": actor},
        lon,
        lat,
    )


def handler_queue(*, conn: Connection, lon: float | None, lat: float | None) -> list[dict]:
    """Dispatched and in-handling cases the handler's department may see (RLS)."""
    return _queue(conn, "c.status = ANY(:st)", {"st": list(HANDLER_STATUSES)}, lon, lat)


def _queue(
    conn: Connection, where: str, params: dict[str, Any], lon: float | None, lat: float | None
) -> list[dict[str, Any]]:
    here = "ST_SetSRID(ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326)"
    return [
        dict(r)
        for r in conn.execute(
            sa.text(f"""
        SELECT c.id AS case_id, c.case_no, c.version, c.status,
               CASE c.status WHEN 'reported' THEN 'verify' WHEN 'handled' THEN 'check'
                    ELSE 'handle' END AS task,
               k.service_code, k.name_zh, k.name_en, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
               c.location_accuracy_m, c.deadline_at, c.description, c.pending_request,
               c.reported_at,
               CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                    ELSE round(ST_Distance(c.geom::geography, {here}::geography)::numeric, 1)
               END AS distance_m
        FROM cases c JOIN categories k ON k.id = c.category_id
        WHERE {where}
        ORDER BY c.deadline_at NULLS LAST, distance_m NULLS LAST, c.reported_at, c.id
        LIMIT :n
    """),
            {**params, "lon": lon, "lat": lat, "n": QUEUE_LIMIT},
        ).mappings()
    ]


def parts_in(
    *, conn: Connection, bbox: tuple[float, float, float, float], limit: int = PARTS_LIMIT
) -> dict[str, Any]:
    """GeoJSON of the parts in a WGS 84 box (as the scope sees them), at most ``limit``."""
    rows = conn.execute(
        sa.text("""
        SELECT p.id, p.part_code, p.status, k.service_code, k.name_zh, k.name_en,
               ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
        FROM parts p JOIN categories k ON k.id = p.category_id
        WHERE p.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)
        ORDER BY p.id LIMIT :n
    """),
        {"x0": bbox[0], "y0": bbox[1], "x1": bbox[2], "y1": bbox[3], "n": limit},
    )
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
                "properties": {
                    "part_id": r.id,
                    "code": r.part_code,
                    "service_code": r.service_code,
                    "name_zh": r.name_zh,
                    "name_en": r.name_en,
                    "status": r.status,
                },
            }
            for r in rows
        ],
    }


def case_place(*, conn: Connection, case_id: int, lon: float, lat: float) -> dict[str, Any] | None:
    """Status, version, category and geodesic distance (m) of a case from (lon, lat), as
    the scope sees it; None when it is not there."""
    row = (
        conn.execute(
            sa.text("""
        SELECT c.id, c.case_no, c.status, c.version, k.service_code,
               ST_Distance(c.geom::geography,
                           ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography) AS distance_m
        FROM cases c JOIN categories k ON k.id = c.category_id WHERE c.id = :id
    """),
            {"id": case_id, "lon": lon, "lat": lat},
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def case_brief(*, conn: Connection, case_id: int) -> dict[str, Any] | None:
    """case_no, status and version of a case as the scope sees it."""
    row = (
        conn.execute(
            sa.text("SELECT id, case_no, status, version FROM cases WHERE id = :id"),
            {"id": case_id},
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)
