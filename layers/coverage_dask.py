"""Patrol coverage of a week on a Dask cluster: the same grid_coverage rows as
:func:`layers.patrols.refresh_coverage`, each group of workers read and measured on a
Dask worker (:mod:`gis.coverage_dask`).

The Dask workers read their part from PostGIS themselves (a time range on ``at``, so that
monthly partitions of ``patrol_points`` are pruned) inside the snapshot of the caller's
transaction, or from a GeoParquet directory of fixes. The rows are written by the caller,
in its transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from city import time_zone
from gis.coverage import DEFAULT_REACH_M
from gis.coverage_dask import connect, coverage_on_dask, parquet_coverage
from gis.coverage_parts import coverage_lattice, worker_groups
from layers.db import engine_for
from layers.patrols import current_grids, patrol_lines, store_coverage, week_fixes

SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")
"""What ``pg_export_snapshot()`` returns (it is spliced into SQL: it cannot be bound)."""
PARTS_PER_THREAD = 4
"""Groups of workers per Dask worker thread: enough to balance uneven groups."""


def export_snapshot(conn: Connection) -> tuple[str, str]:
    """The URL of ``conn``'s database and a snapshot of its transaction exported for the
    parts' reads (``pg_export_snapshot()``: every part sees the database as the caller)."""
    snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
    return conn.engine.url.render_as_string(hide_password=False), str(snapshot)


@contextmanager
def in_snapshot(url: str, snapshot: str) -> Iterator[Connection]:
    """On a Dask worker: a connection to ``url`` inside a transaction that sees
    the exported ``snapshot`` (see :func:`export_snapshot`)."""
    if not SNAPSHOT_ID.fullmatch(snapshot):
        raise ValueError(f"{snapshot!r} is not a PostgreSQL snapshot id.")
    with engine_for(url).connect() as part_conn:
        part_conn = part_conn.execution_options(isolation_level="REPEATABLE READ")
        with part_conn.begin():
            part_conn.execute(sa.text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
            yield part_conn


def refresh_coverage_on_dask(
    *,
    conn: Connection,
    week_start: date,
    week_end: date,
    scheduler: str | None,
    reach_m: float = DEFAULT_REACH_M,
    fixes_path: str | None = None,
    n_parts: int | None = None,
) -> int:
    """Coverage of every current grid for [week_start, week_end], computed in parts on the
    Dask scheduler at ``scheduler``; stored as :func:`layers.patrols.refresh_coverage` does.

    Parameters
    ----------
    scheduler
        ``tcp://host:port`` of a Dask scheduler; None runs the parts in this process (only
        with ``fixes_path``; without it use :func:`layers.patrols.refresh_coverage`).
    fixes_path
        A GeoParquet directory of fixes (worker_id, at, point geometry) to read instead of
        ``patrols`` and ``patrol_points``; tracks are drawn per worker and local day.
    n_parts
        Groups of workers (PostGIS input); default :data:`PARTS_PER_THREAD` per thread.

    Returns
    -------
    int
        Grids written.
    """
    grids = current_grids(conn=conn)
    lattice = coverage_lattice(grids)
    client = connect(scheduler) if scheduler else None
    try:
        if fixes_path:
            tz = time_zone().key
            start = pd.Timestamp(datetime.combine(week_start, time()), tz=tz)
            end = pd.Timestamp(datetime.combine(week_end + timedelta(days=1), time()), tz=tz)
            coverage, spent = parquet_coverage(
                client, lattice, fixes_path, start=start, end=end, tz=tz, reach_m=reach_m
            )
        else:
            if client is None:
                raise ValueError("PostGIS input in parts needs a scheduler address.")
            coverage, spent = _coverage_from_postgis(
                conn,
                client,
                lattice=lattice,
                week_start=week_start,
                week_end=week_end,
                reach_m=reach_m,
                n_parts=n_parts,
            )
    finally:
        if client is not None:
            client.close()
    return store_coverage(
        conn=conn,
        week_start=week_start,
        week_end=week_end,
        coverage=coverage,
        spent=spent,
        reach_m=reach_m,
    )


def _coverage_from_postgis(
    conn: Connection,
    client: Any,
    *,
    lattice: Any,
    week_start: date,
    week_end: date,
    reach_m: float,
    n_parts: int | None,
) -> tuple[pd.DataFrame, pd.Series]:
    workers = conn.execute(
        sa.text("""
        SELECT worker_id FROM patrol_points
        WHERE at >= :start AND at < CAST(:end AS date) + 1
        UNION SELECT worker_id FROM patrols WHERE day BETWEEN :start AND :end
    """),
        {"start": week_start, "end": week_end},
    ).scalars()
    threads = sum(client.nthreads().values()) or 1
    groups = worker_groups(list(workers), n_parts or PARTS_PER_THREAD * threads)
    url, snapshot = export_snapshot(conn)
    load = partial(read_part, url=url, snapshot=snapshot, week_start=week_start, week_end=week_end)
    return coverage_on_dask(client, lattice, load, groups, reach_m=reach_m)


def read_part(
    worker_ids: list[int], *, url: str, snapshot: str, week_start: date, week_end: date
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """On a Dask worker: the week's patrol lines and fixes of ``worker_ids``, read in the
    exported ``snapshot`` (so that every part sees the database as the caller does)."""
    with in_snapshot(url, snapshot) as part_conn:
        lines = patrol_lines(
            conn=part_conn,
            start=week_start,
            end=week_end,
            simplify_m=0,
            worker_ids=worker_ids,
        )
        fixes = week_fixes(
            conn=part_conn, week_start=week_start, week_end=week_end, worker_ids=worker_ids
        )
    return lines, fixes
