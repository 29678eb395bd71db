"""Duplicate reports: the same category near an open case within a time window.

A duplicate is merged into the case that lives on: it is rejected with the
action ``merge`` (reason "duplicate of case …"), points to its target through
``merged_into``, and every reporter is copied to the target, so nobody who
reported the problem is lost.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.workflow.transitions import TransitionResult, refusals_as_errors

DEFAULT_RADIUS_M = 50.0
DEFAULT_WINDOW = timedelta(days=3)
_METRES_PER_DEGREE_LAT = 111_320.0


def find_duplicates(
    *,
    conn: Connection,
    case_id: int,
    radius_m: float = DEFAULT_RADIUS_M,
    window: timedelta = DEFAULT_WINDOW,
) -> list[dict[str, Any]]:
    """Open cases of the same category within ``radius_m`` metres and ``window`` of a case.

    Returns the candidates nearest first (id, case_no, status, distance_m, reported_at).

    Notes
    -----
    Distance is geodesic (geography). The bounding-box prefilter uses the GiST
    index on ``cases.geom``; its size in degrees is generous (twice the radius
    at the case's latitude).
    """
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
        SELECT o.id, o.case_no, o.status, o.reported_at,
               round(ST_Distance(o.geom::geography, c.geom::geography)::numeric, 1) AS distance_m
        FROM cases c
        JOIN cases o ON o.id <> c.id AND o.category_id = c.category_id
                    AND o.geom && ST_Expand(c.geom, :deg)
                    AND ST_DWithin(o.geom::geography, c.geom::geography, :radius)
                    AND o.reported_at BETWEEN c.reported_at - :window AND c.reported_at + :window
        JOIN case_statuses s ON s.code = o.status AND s.is_open
        WHERE c.id = :id AND o.merged_into IS NULL
        ORDER BY distance_m, o.reported_at
    """),
            {
                "id": case_id,
                "radius": radius_m,
                "deg": 2 * radius_m / _METRES_PER_DEGREE_LAT / 0.5,
                "window": window,
            },
        ).mappings()
    ]


def open_cases_near(
    *,
    conn: Connection,
    lon: float,
    lat: float,
    service_code: str | None,
    at: datetime,
    radius_m: float = DEFAULT_RADIUS_M,
    window: timedelta = timedelta(days=30),
    limit: int = 5,
) -> list[dict[str, Any]]:
    """Open cases near a point that a new report there may duplicate, nearest first.

    The one duplicate hint for every front door (field app, hotline, residents): a
    report is not a case yet, so the search starts from a WGS 84 point. ``service_code``
    narrows to one category (None: any category). Only cases reported within
    ``window`` before ``at`` and not merged count; row-level security of the caller's
    scope applies. Returns id, case_no, status, service_code, name_zh, name_en,
    reported_at and distance_m (geodesic, one decimal).
    """
    return [
        dict(r)
        for r in conn.execute(
            sa.text("""
        WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geom)
        SELECT o.id, o.case_no, o.status, k.service_code, k.name_zh, k.name_en,
               o.reported_at,
               round(ST_Distance(o.geom::geography, p.geom::geography)::numeric, 1)
                   AS distance_m
        FROM p
        JOIN cases o ON o.geom && ST_Expand(p.geom, :deg)
                    AND ST_DWithin(o.geom::geography, p.geom::geography, :radius)
        JOIN categories k ON k.id = o.category_id
        JOIN case_statuses s ON s.code = o.status AND s.is_open
        WHERE o.merged_into IS NULL
          AND o.reported_at BETWEEN CAST(:at AS timestamptz) - :window
                                AND CAST(:at AS timestamptz)
          AND (CAST(:code AS text) IS NULL OR k.service_code = :code)
        ORDER BY distance_m, o.reported_at DESC
        LIMIT :limit
    """),
            {
                "lon": lon,
                "lat": lat,
                "code": service_code,
                "at": at,
                "radius": radius_m,
                "deg": _degrees_for(radius_m, lat),
                "window": window,
                "limit": limit,
            },
        ).mappings()
    ]


def _degrees_for(radius_m: float, lat: float) -> float:
    """A bounding-box half-size in degrees that holds ``radius_m`` at latitude ``lat``."""
    shrink = max(math.cos(math.radians(min(abs(lat), 85.0))), 0.05)
    return 1.1 * radius_m / _METRES_PER_DEGREE_LAT / shrink


def merge_duplicate(
    *,
    conn: Connection,
    duplicate_id: int,
    target_id: int,
    actor: str,
    role: str,
    expected_version: int,
    reason: str = "duplicate",
) -> TransitionResult:
    """Merge ``duplicate_id`` into the open case ``target_id``, keeping every reporter.

    Raises
    ------
    WorkflowError
        The target is missing or not open, or the duplicate cannot be merged now.
    """
    with refusals_as_errors(conn):
        row = conn.execute(
            sa.text("""
            SELECT case_id, status, version, event_id
            FROM case_merge(:dup, :target, :actor, :role, :version, :reason)
        """),
            {
                "dup": duplicate_id,
                "target": target_id,
                "actor": actor,
                "role": role,
                "version": expected_version,
                "reason": reason,
            },
        ).one()
    return TransitionResult(int(row.case_id), row.status, int(row.version), int(row.event_id))
