"""Gi* and emerging hot spots on a Dask cluster: the frames of
:func:`layers.hotspots.hotspot_cells` and :func:`layers.hotspots.emerging_cells`, computed
part by part (:mod:`gis.hotspots_dask`) on the workers of a Dask scheduler.

The command's side reads one cheap aggregate (the counts per cell, or per cell the sum and
the sum of squares of its weekly counts) for the study area's cells and its global mean and
standard deviation; each Dask task reads the case counts of its part (core and halo) from
``case_daily`` itself, in the snapshot of the caller's transaction, by a day range (pruned
by the rollup's day index) and the H3 parents of the rows' r9 cells. The rows are stored by
the caller with :func:`layers.hotspots.store_hotspots` / ``store_emerging``, in its
transaction.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis import heat
from gis.coverage_dask import connect
from gis.hotspots import global_moments, moments_from_sums
from gis.hotspots_dask import emerging_in_parts, gi_star_in_parts
from layers import areas, rollups
from layers.coverage_dask import PARTS_PER_THREAD, export_snapshot, in_snapshot
from layers.hotspots import study_counts


def h3_parent_sql(column: str = "d.h3_r9") -> str:
    """SQL of the parent at resolution ``:resolution`` of the r9 cells in ``column``
    (``gis.hotspots_dask.h3_parent``: resolution bits set, finer digits set to 7)."""
    return (
        f"(({column} & ~(CAST(15 AS bigint) << 52)) | (CAST(:resolution AS bigint) << 52)"
        f" | ((CAST(1 AS bigint) << (3 * (15 - CAST(:resolution AS int)))) - 1))"
    )


def hotspot_cells_on_dask(
    *,
    conn: Connection,
    scheduler: str | None,
    start: date,
    end: date,
    resolution: int = 9,
    categories: list[str] | None = None,
    community: str | None = None,
    n_parts: int | None = None,
) -> pd.DataFrame:
    """:func:`layers.hotspots.hotspot_cells`, each part read and computed on a Dask worker.

    Parameters
    ----------
    scheduler
        ``tcp://host:port`` of a Dask scheduler; None computes the parts one after another
        in this process (reading them as the workers would).
    n_parts
        Parts of the study area; default :data:`PARTS_PER_THREAD` per Dask thread.

    Raises
    ------
    gis.coverage_dask.SchedulerUnreachableError
        When no scheduler answers at ``scheduler`` (before anything is read).
    """
    client = connect(scheduler) if scheduler else None
    try:
        cells = study_counts(
            conn=conn,
            start=start,
            end=end,
            resolution=resolution,
            categories=categories,
            community=community,
        )
        if cells is None:
            return pd.DataFrame()
        url, snapshot = export_snapshot(conn)
        load = partial(
            read_counts,
            url=url,
            snapshot=snapshot,
            start=start,
            end=end,
            resolution=resolution,
            categories=categories,
            community=community,
        )
        return gi_star_in_parts(
            client,
            cells.cell.to_numpy(),
            load,
            global_moments(cells.n.to_numpy()),
            n_parts or _default_parts(client),
        )
    finally:
        if client is not None:
            client.close()


def emerging_cells_on_dask(
    *,
    conn: Connection,
    scheduler: str | None,
    end: date,
    weeks: int = 52,
    resolution: int = 9,
    n_parts: int | None = None,
) -> pd.DataFrame:
    """:func:`layers.hotspots.emerging_cells`, each part read and computed on a Dask worker
    (``scheduler`` and ``n_parts`` as in :func:`hotspot_cells_on_dask`)."""
    client = connect(scheduler) if scheduler else None
    try:
        start = end - timedelta(days=7 * weeks - 1)
        totals = pd.read_sql(
            sa.text(f"""
            SELECT cell, sum(n)::bigint AS n, sum(n * n)::bigint AS n_sq FROM (
                SELECT (day - CAST(:start AS date)) / 7 AS slice,
                       {h3_parent_sql("h3_r9")} AS cell, sum(n)::bigint AS n
                FROM case_daily WHERE day BETWEEN :start AND :end AND h3_r9 IS NOT NULL
                GROUP BY 1, 2) weekly
            GROUP BY cell
        """),
            conn,
            params={"start": start, "end": end, "resolution": resolution},
        )
        area = areas.area_geometry(conn=conn)
        if area is None:
            return pd.DataFrame()
        study = np.union1d(heat.cells_covering(area, resolution), totals.cell.to_numpy(np.int64))
        if len(study) < 3:
            return pd.DataFrame()
        moments = moments_from_sums(int(totals.n.sum()), int(totals.n_sq.sum()), weeks * len(study))
        url, snapshot = export_snapshot(conn)
        load = partial(
            read_weekly_counts,
            url=url,
            snapshot=snapshot,
            start=start,
            end=end,
            resolution=resolution,
        )
        return emerging_in_parts(
            client, study, load, moments, n_parts or _default_parts(client), n_slices=weeks
        )
    finally:
        if client is not None:
            client.close()


def read_counts(
    cells: np.ndarray,
    *,
    url: str,
    snapshot: str,
    start: date,
    end: date,
    resolution: int,
    categories: list[str] | None,
    community: str | None,
) -> pd.DataFrame:
    """On a Dask worker: cases per cell (cell, n) of ``cells`` (at ``resolution``) reported
    ``start``–``end``, with the filter of :func:`layers.rollups.counts_by_h3`."""
    sql = f"""
        SELECT {h3_parent_sql()} AS cell, sum(d.n)::bigint AS n
        {rollups.daily_cells()} AND {h3_parent_sql()} = ANY(:cells)
        GROUP BY 1"""
    params = {"start": start, "end": end, "cats": categories, "community": community}
    return _read_in_snapshot(url, snapshot, sql, params | _cells(cells, resolution))


def read_weekly_counts(
    cells: np.ndarray, *, url: str, snapshot: str, start: date, end: date, resolution: int
) -> pd.DataFrame:
    """On a Dask worker: cases per week slice and cell (slice, cell, n) of ``cells``, the
    counts of :func:`layers.hotspots.emerging_cells`."""
    sql = f"""
        SELECT (day - CAST(:start AS date)) / 7 AS slice, {h3_parent_sql("h3_r9")} AS cell,
               sum(n)::bigint AS n
        FROM case_daily
        WHERE day BETWEEN :start AND :end AND h3_r9 IS NOT NULL
          AND {h3_parent_sql("h3_r9")} = ANY(:cells)
        GROUP BY 1, 2"""
    params = {"start": start, "end": end}
    return _read_in_snapshot(url, snapshot, sql, params | _cells(cells, resolution))


def _cells(cells: np.ndarray, resolution: int) -> dict[str, Any]:
    return {"cells": [int(c) for c in np.asarray(cells, dtype=np.int64)], "resolution": resolution}


def _read_in_snapshot(url: str, snapshot: str, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    with in_snapshot(url, snapshot) as part_conn:
        return pd.read_sql(sa.text(sql), part_conn, params=params)


def _default_parts(client: Any | None) -> int:
    threads = sum(client.nthreads().values()) if client is not None else 1
    return PARTS_PER_THREAD * max(threads, 1)
