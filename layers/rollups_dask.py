"""The daily case rollup on a Dask cluster: ``case_daily`` counted month partition by month
partition on the workers, the rest of :func:`layers.rollups.refresh_rollups` unchanged.

Each Dask task counts one leaf partition of ``cases`` (a month, or the default partition)
on its own connection, in the snapshot of the command's transaction: the cases of that
partition per local day, street, community, grid, H3 r9 cell, category and source. A
partition's rows are read once, by one task, and only its counts travel back. A local
day can fall in two months (the partitions are cut at UTC month starts, the days at
local midnight), so the command adds up the counts of a day that two parts share before
it writes them: the rows are those of the single statement of
:func:`layers.rollups.refresh_rollups`. The workers need a route to PostGIS (a streaming
replica will do for their reads, see docs/beyond-one-machine.md); the command writes.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from city import time_zone
from gis.dask_parts import map_in_process, parts_mapper
from layers.bulk_months import leaves
from layers.coverage_dask import export_snapshot, in_snapshot
from layers.rollup_queue import clear
from layers.rollups import DAILY_KEYS, store_daily

MONTH_COUNTS = """
    SELECT (reported_at AT TIME ZONE :tz)::date AS day, street_code, community_id, grid_id,
           h3_r9, category_id, source, count(*) AS n
    FROM ONLY "{leaf}"
    GROUP BY 1, 2, 3, 4, 5, 6, 7"""
"""The counts of one leaf partition of ``cases`` (named by the catalogue, never by a user)."""


def refresh_rollups_on_dask(
    *, conn: Connection, scheduler: str | None, tz: str | None = None
) -> int:
    """:func:`layers.rollups.refresh_rollups` with ``case_daily`` counted per partition of
    ``cases`` on the workers of the Dask scheduler at ``scheduler`` (None: the parts one
    after another in this process, read as the workers would); returns case_daily rows.

    Raises
    ------
    gis.dask_parts.SchedulerUnreachableError
        When no scheduler answers at ``scheduler`` (before anything is read or written).
    """
    tz = tz or time_zone().key
    with parts_mapper(scheduler) as on_dask:  # connected first: unreachable, nothing done
        # a database whose cases are not partitioned has one part: the table itself
        months = sorted(leaves(conn, "cases")) or ["cases"]
        # the queue is forgotten before the snapshot is taken: a day queued while the
        # parts count (a case reported meanwhile, not in their snapshot) stays queued
        clear(conn)
        url, snapshot = export_snapshot(conn)
        mapper = on_dask or map_in_process
        parts = mapper(count_partition, months, {"url": url, "snapshot": snapshot, "tz": tz})
    return store_daily(conn=conn, daily=add_up(parts), tz=tz, clear_queue=False)


def count_partition(leaf: str, shared: dict[str, Any]) -> pd.DataFrame:
    """On a Dask worker: the counts of leaf partition ``leaf`` of ``cases`` (columns
    :data:`layers.rollups.DAILY_KEYS` and ``n``), read in the command's snapshot."""
    if not leaf.replace("_", "").isalnum():
        raise ValueError(f"{leaf!r} is not a partition of cases")
    with in_snapshot(shared["url"], shared["snapshot"]) as part_conn:
        rows = part_conn.execute(sa.text(MONTH_COUNTS.format(leaf=leaf)), {"tz": shared["tz"]})
        # objects, not floats: a 64-bit H3 cell or an id beside a NULL stays exact
        return pd.DataFrame(rows.all(), columns=[*DAILY_KEYS, "n"], dtype=object)


def add_up(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts' counts as one frame: a key that two parts share (a local day cut by a
    month boundary) counted once, with the sum of its counts.

    Only the few shared keys are added up, in Python: pandas' ``groupby`` would turn a
    key column holding a NULL into floats, and a 64-bit H3 cell is not exact as a float.
    """
    kept = [p for p in parts if not p.empty]
    if not kept:
        return pd.DataFrame(columns=[*DAILY_KEYS, "n"])
    frame = pd.concat(kept, ignore_index=True)
    keys = list(DAILY_KEYS)
    shared = frame.duplicated(keys, keep=False)  # NULLs compare equal here, as in GROUP BY
    if not shared.any():
        return frame
    sums: dict[tuple[Any, ...], int] = {}
    for *key, n in frame.loc[shared, [*keys, "n"]].itertuples(index=False, name=None):
        known = tuple(None if pd.isna(v) else v for v in key)
        sums[known] = sums.get(known, 0) + int(n)
    added = pd.DataFrame([(*k, n) for k, n in sums.items()], columns=[*keys, "n"], dtype=object)
    return pd.concat([frame[~shared], added], ignore_index=True)
