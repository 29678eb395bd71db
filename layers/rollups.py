"""Daily case rollups: rebuilt in one statement, read by the dashboard and the analytics."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from city import time_zone
from layers.areas import IN_AREA
from layers.bulk import copy_frame
from layers.measures import refresh_measures
from layers.rollup_queue import clear


def daily_cells(*, communities: str = "LEFT JOIN") -> str:
    """``FROM … WHERE …`` of the ``case_daily`` rows (alias ``d``) with an H3 r9 cell that
    were reported ``:start``–``:end``, in the area ``:community`` (any level; NULL =
    everywhere) and of the classes ``:cats`` (minor or major service codes; NULL = all).
    Joined: the category ``k``, its major class ``m`` and the community ``a``
    (``communities="JOIN"`` drops the rows without a community). The one filter the
    rollup's readers share (the heat, the hotspot list, the weekly frames)."""
    if communities not in ("JOIN", "LEFT JOIN"):
        raise ValueError(f"communities must be 'JOIN' or 'LEFT JOIN', got {communities!r}")
    return f"""
        FROM case_daily d JOIN categories k ON k.id = d.category_id
        LEFT JOIN categories m ON m.id = k.parent_id
        {communities} communities a ON a.id = d.community_id
        WHERE d.day BETWEEN :start AND :end AND d.h3_r9 IS NOT NULL
          AND {IN_AREA.format(code="a.code")}
          AND (CAST(:cats AS text[]) IS NULL OR k.service_code = ANY(:cats)
               OR m.service_code = ANY(:cats))"""


DAILY_KEYS = ("day", "street_code", "community_id", "grid_id", "h3_r9", "category_id", "source")
"""What a ``case_daily`` row counts the cases of (with ``n``, how many)."""


def refresh_rollups(*, conn: Connection, tz: str | None = None) -> int:
    """Rebuild ``case_daily`` and ``case_daily_major`` from ``cases``, and the measures
    rollups (:func:`layers.measures.refresh_measures`); return case_daily rows.

    Days are local days in ``tz`` (default: the city profile's time zone).
    """
    return store_daily(conn=conn, daily=None, tz=tz)


def store_daily(
    *,
    conn: Connection,
    daily: pd.DataFrame | None,
    tz: str | None = None,
    clear_queue: bool = True,
) -> int:
    """Replace ``case_daily`` with ``daily`` (columns :data:`DAILY_KEYS` and ``n``, one row
    per key: counted elsewhere, e.g. on Dask by :mod:`layers.rollups_dask`; None: counted
    here from ``cases`` in one statement), then rebuild ``case_daily_major`` and the
    measures rollups from it; return case_daily rows.

    ``clear_queue``: forget the queued days first (every day is rebuilt). A caller that
    counted ``daily`` in an earlier snapshot cleared the queue before taking it and passes
    False: a day queued since then is not in its counts and must stay queued.
    """
    tz = tz or time_zone().key
    if clear_queue:
        clear(conn)  # every day is rebuilt: the queue's days too
    conn.execute(sa.text("TRUNCATE case_daily, case_daily_major"))
    if daily is None:
        n = conn.execute(
            sa.text("""
            INSERT INTO case_daily (day, street_code, community_id, grid_id, h3_r9,
                                    category_id, source, n)
            SELECT (reported_at AT TIME ZONE :tz)::date, street_code, community_id, grid_id,
                   h3_r9, category_id, source, count(*)
            FROM cases
            GROUP BY 1, 2, 3, 4, 5, 6, 7
        """),
            {"tz": tz},
        ).rowcount
    else:
        n = copy_frame(conn, "case_daily", daily[[*DAILY_KEYS, "n"]])
    conn.execute(
        sa.text("""
        INSERT INTO case_daily_major (day, community_id, major_id, n)
        SELECT d.day, d.community_id, coalesce(k.parent_id, k.id), sum(d.n)
        FROM case_daily d JOIN categories k ON k.id = d.category_id
        GROUP BY 1, 2, 3
    """)
    )
    refresh_measures(conn=conn)
    return n


def counts_by_h3(
    *,
    conn: Connection,
    start: date,
    end: date,
    categories: list[str] | None = None,
    community: str | None = None,
) -> pd.DataFrame:
    """Cases per H3 r9 cell reported from ``start`` to ``end`` (inclusive), from the rollup.

    ``categories``: service codes of minor classes or major classes (a major
    class stands for all its minors); None for all.
    """
    return pd.read_sql(
        sa.text(f"""
        SELECT d.h3_r9 AS cell, sum(d.n)::bigint AS n
        {daily_cells()}
        GROUP BY d.h3_r9
    """),
        conn,
        params={"start": start, "end": end, "cats": categories, "community": community},
    )


def counts_by_grid(
    *,
    conn: Connection,
    start: date,
    end: date,
    categories: list[str] | None = None,
    community: str | None = None,
) -> gpd.GeoDataFrame:
    """Heat per grid: cases reported ``start``–``end`` in each grid, from the rollup.

    Every grid in force in the area is listed, with 0 where nothing was reported
    (a quiet grid is an answer too), and ``per_1000_households`` so that big and
    small grids compare. A case keeps the grid it was filed in; grids redrawn
    since then are counted under the grid version the case names. Columns:
    ``grid_id, code, community_code, households, n, per_1000_households, geom``.
    """
    return gpd.read_postgis(
        sa.text(f"""
        WITH counted AS (
            SELECT d.grid_id, sum(d.n)::bigint AS n
            FROM case_daily d JOIN categories k ON k.id = d.category_id
            LEFT JOIN categories m ON m.id = k.parent_id
            WHERE d.day BETWEEN :start AND :end AND d.grid_id IS NOT NULL
              AND (CAST(:cats AS text[]) IS NULL OR k.service_code = ANY(:cats)
                   OR m.service_code = ANY(:cats))
            GROUP BY d.grid_id
        )
        SELECT g.id AS grid_id, g.code, c.code AS community_code, g.households,
               coalesce(x.n, 0) AS n,
               round(1000.0 * coalesce(x.n, 0) / nullif(g.households, 0), 2)
                   AS per_1000_households,
               g.geom
        FROM grids g JOIN communities c ON c.id = g.community_id
        LEFT JOIN counted x ON x.grid_id = g.id
        WHERE (g.valid_to IS NULL OR x.n IS NOT NULL) AND {IN_AREA.format(code="c.code")}
        ORDER BY g.code, g.valid_from
    """),
        conn,
        geom_col="geom",
        params={"start": start, "end": end, "cats": categories, "community": community},
    )


def daily_counts(
    *, conn: Connection, start: date, end: date, community: str | None = None
) -> pd.DataFrame:
    """Cases per day and major class (for trend charts), from the small major-class rollup."""
    return pd.read_sql(
        sa.text(f"""
        SELECT d.day, m.service_code AS major, m.name_zh, m.name_en, sum(d.n)::bigint AS n
        FROM case_daily_major d JOIN categories m ON m.id = d.major_id
        LEFT JOIN communities a ON a.id = d.community_id
        WHERE d.day BETWEEN :start AND :end AND {IN_AREA.format(code="a.code")}
        GROUP BY 1, 2, 3, 4 ORDER BY 1
    """),
        conn,
        params={"start": start, "end": end, "community": community},
    )


def day_range(*, conn: Connection) -> tuple[date, date] | None:
    """First and last day in the rollup, or None when it is empty."""
    row = conn.execute(sa.text("SELECT min(day), max(day) FROM case_daily")).first()
    return (row[0], row[1]) if row and row[0] else None


def counts_by_h3_and_community(
    *,
    conn: Connection,
    start: date,
    end: date,
    categories: list[str] | None = None,
    community: str | None = None,
) -> pd.DataFrame:
    """Cases per H3 r9 cell and community code in [start, end] (cell, community, n)."""
    return pd.read_sql(
        sa.text(f"""
        SELECT d.h3_r9 AS cell, a.code AS community, sum(d.n)::bigint AS n
        {daily_cells()}
        GROUP BY 1, 2"""),
        conn,
        params={"start": start, "end": end, "cats": categories, "community": community},
    )


def daily_counts_by_community(
    *, conn: Connection, start: date, end: date, community: str | None = None
) -> pd.DataFrame:
    """Cases per day, major class and community in [start, end]
    (day, major, name_zh, name_en, community, n)."""
    return pd.read_sql(
        sa.text(f"""
        SELECT d.day, m.service_code AS major, m.name_zh, m.name_en,
               a.code AS community, sum(d.n)::bigint AS n
        FROM case_daily_major d JOIN categories m ON m.id = d.major_id
        LEFT JOIN communities a ON a.id = d.community_id
        WHERE d.day BETWEEN :start AND :end AND {IN_AREA.format(code="a.code")}
        GROUP BY 1, 2, 3, 4, 5 ORDER BY 1"""),
        conn,
        params={"start": start, "end": end, "community": community},
    )
