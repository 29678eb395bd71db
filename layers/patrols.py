"""Patrol tracks: GPS points of grid workers and the lines derived from them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from city import time_zone
from gis.coverage import DEFAULT_REACH_M, grid_coverage, time_in_grids


def derive_patrols(conn: Connection, tz: str | None = None) -> int:
    """Rebuild the patrol lines (one per worker and local day) from patrol points.

    Days are local days in ``tz`` (default: the city profile's time zone).
    """
    tz = tz or time_zone().key
    conn.execute(sa.text("DELETE FROM patrols"))
    result = conn.execute(
        sa.text("""
        INSERT INTO patrols (worker_id, day, started_at, ended_at, n_points, length_m, geom)
        SELECT worker_id, (at AT TIME ZONE :tz)::date AS day, min(at), max(at), count(*),
               ST_Length(ST_MakeLine(geom ORDER BY at)::geography),
               ST_MakeLine(geom ORDER BY at)
        FROM patrol_points
        GROUP BY worker_id, (at AT TIME ZONE :tz)::date
        HAVING count(*) >= 2
    """),
        {"tz": tz},
    )
    return result.rowcount


def patrol_lines(
    *,
    conn: Connection,
    start: date,
    end: date,
    simplify_m: float = 5.0,
    worker_ids: Sequence[int] | None = None,
) -> gpd.GeoDataFrame:
    """Daily patrol lines from ``start`` to ``end`` (inclusive), simplified to ``simplify_m``;
    only those of ``worker_ids`` when given."""
    only = "" if worker_ids is None else "AND p.worker_id = ANY(:ids)"
    return gpd.read_postgis(
        sa.text(f"""
        SELECT p.id, p.day, w.code AS worker_code, p.length_m, p.n_points,
               ST_Simplify(p.geom, :tol) AS geom
        FROM patrols p JOIN workers w ON w.id = p.worker_id
        WHERE p.day BETWEEN :start AND :end {only}
    """),
        conn,
        geom_col="geom",
        # degrees per metre at mid latitudes: good enough for a display tolerance
        params={
            "start": start,
            "end": end,
            "tol": simplify_m / 111_000,
            "ids": list(worker_ids or []),
        },
    )


def patrol_days(*, conn: Connection) -> tuple[date, date] | None:
    """First and last day with patrols, or None."""
    row = conn.execute(sa.text("SELECT min(day), max(day) FROM patrols")).first()
    return (row[0], row[1]) if row and row[0] else None


def worker_workload(*, conn: Connection, start: date, end: date) -> pd.DataFrame:
    """Per worker: grid, households, open cases in the grid, reports made and km walked.

    One row per worker; a worker covering several grids gets their codes (space
    separated), households and open cases summed.
    """
    return pd.read_sql(
        sa.text("""
        WITH reports AS (
            SELECT actor, count(*) AS n FROM case_events
            WHERE action = 'report' AND role = 'grid_worker'
              -- timestamptz bounds: a leakproof comparison, so that under row-level
              -- security the partial index on reports still narrows the rows first
              AND at >= CAST(CAST(:start AS date) AS timestamptz)
              AND at < CAST(CAST(:end AS date) + 1 AS timestamptz)
            GROUP BY actor
        ), open_cases AS (
            SELECT c.grid_id, count(*) AS n FROM cases c
            JOIN case_statuses s ON s.code = c.status WHERE s.is_open GROUP BY c.grid_id
        ), walked AS (
            SELECT worker_id, sum(length_m) / 1000.0 AS km, count(*) AS days FROM patrols
            WHERE day BETWEEN :start AND :end GROUP BY worker_id
        ), assigned AS (  -- one row per worker, however many grids they cover
            SELECT g.worker_id, string_agg(g.code, ' ' ORDER BY g.code) AS grid_code,
                   sum(g.households) AS households, sum(coalesce(o.n, 0)) AS open_cases
            FROM grids_current g LEFT JOIN open_cases o ON o.grid_id = g.id
            WHERE g.worker_id IS NOT NULL GROUP BY g.worker_id
        )
        SELECT w.code AS worker_code, g.grid_code, g.households,
               coalesce(g.open_cases, 0) AS open_cases, coalesce(r.n, 0) AS reports_made,
               round(coalesce(k.km, 0)::numeric, 1) AS km_walked,
               coalesce(k.days, 0) AS days_on_patrol
        FROM workers w
        LEFT JOIN assigned g ON g.worker_id = w.id
        LEFT JOIN reports r ON r.actor = w.code
        LEFT JOIN walked k ON k.worker_id = w.id
        ORDER BY w.code
    """),
        conn,
        params={"start": start, "end": end},
    )


def refresh_coverage(
    *, conn: Connection, week_start: date, week_end: date, reach_m: float = DEFAULT_REACH_M
) -> int:
    """Compute patrol coverage of every current grid for [week_start, week_end] and store it.

    ``time_spent_h``: the time between consecutive GPS fixes of a worker (gaps over 5
    minutes left out) whose later fix lies in the grid. Returns the number of grids
    written; re-running replaces that week's rows. (On a Dask cluster:
    :func:`layers.coverage_dask.refresh_coverage_on_dask`, the same rows.)
    """
    current = current_grids(conn=conn)
    lines = patrol_lines(conn=conn, start=week_start, end=week_end, simplify_m=0)
    coverage = grid_coverage(current, lines, reach_m=reach_m)
    fixes = week_fixes(conn=conn, week_start=week_start, week_end=week_end)
    spent = time_in_grids(current, fixes)
    return store_coverage(
        conn=conn,
        week_start=week_start,
        week_end=week_end,
        coverage=coverage,
        spent=spent,
        reach_m=reach_m,
    )


def current_grids(*, conn: Connection) -> gpd.GeoDataFrame:
    """The current grids (id, geom) that coverage is measured on."""
    return gpd.read_postgis(sa.text("SELECT id, geom FROM grids_current"), conn, geom_col="geom")


def week_fixes(
    *,
    conn: Connection,
    week_start: date,
    week_end: date,
    worker_ids: Sequence[int] | None = None,
) -> pd.DataFrame:
    """GPS fixes (worker_id, at, lon, lat) from ``week_start`` to ``week_end`` (inclusive),
    only those of ``worker_ids`` when given.

    The days are the city's (midnight in ``gridgov_time_zone()``, as the Dask path and
    the daily patrol lines cut them), whatever the session's time zone. The filter is a
    time range on ``at`` so that a table partitioned by month is pruned.
    """
    only = "" if worker_ids is None else "AND worker_id = ANY(:ids)"
    return pd.read_sql(
        sa.text(f"""
        SELECT worker_id, at, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM patrol_points
        WHERE at >= CAST(:start AS date)::timestamp AT TIME ZONE gridgov_time_zone()
          AND at < (CAST(:end AS date) + 1)::timestamp AT TIME ZONE gridgov_time_zone() {only}
    """),
        conn,
        params={"start": week_start, "end": week_end, "ids": list(worker_ids or [])},
    )


def store_coverage(
    *,
    conn: Connection,
    week_start: date,
    week_end: date,
    coverage: pd.DataFrame,
    spent: pd.Series,
    reach_m: float,
) -> int:
    """Replace the week's grid_coverage rows by ``coverage`` (id, covered_share, walked_m)
    and ``spent`` (hours by grid id); returns the number of rows written."""
    hours = spent.to_dict()
    conn.execute(sa.text("DELETE FROM grid_coverage WHERE week_start = :w"), {"w": week_start})
    conn.execute(
        sa.text("""
        INSERT INTO grid_coverage (grid_id, week_start, week_end, covered_share, walked_m,
                                   time_spent_h, reach_m)
        VALUES (:id, :start, :end, :share, :walked, :spent, :reach)
    """),
        [
            {
                "id": int(r["id"]),
                "start": week_start,
                "end": week_end,
                "share": float(min(max(r["covered_share"], 0.0), 1.0)),
                "walked": float(r["walked_m"]),
                "spent": float(hours.get(int(r["id"]), 0.0)),
                "reach": reach_m,
            }
            for r in coverage.to_dict("records")
        ],
    )
    return len(coverage)


def stored_coverage(*, conn: Connection, week_start: date) -> pd.DataFrame:
    """Stored coverage rows (id, covered_share, walked_m) of a week; empty if not computed."""
    return pd.read_sql(
        sa.text("""
        SELECT grid_id AS id, covered_share, walked_m, time_spent_h FROM grid_coverage
        WHERE week_start = :w
    """),
        conn,
        params={"w": week_start},
    )


def latest_patrol_week(*, conn: Connection) -> tuple[date, date] | None:
    """The 7 days ending on the last day with patrols, or None."""
    span = patrol_days(conn=conn)
    if span is None:
        return None
    end = span[1]
    return max(span[0], end - timedelta(days=6)), end
