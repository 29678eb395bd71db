"""Monthly partitions of ``cases``, ``case_events`` and ``patrol_points`` (migration 0100).

One partition per calendar month in UTC, ``<table>_pYYYY_MM``, and a
``<table>_default`` partition that catches a row of a month without its own
partition (never lost; :func:`ensure` moves such rows out when it creates the
month). The SQL lives in the database (``gridgov_partition_create``,
``gridgov_partitions_ensure``) so that the migration, the loaders and the
command line create partitions the same way; here are the callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.errors import GridGovError

TABLES = ("cases", "case_events", "patrol_points")
"""The partitioned tables, parents before children."""
KEYS = {"cases": "reported_at", "case_events": "at", "patrol_points": "at"}
"""The column whose month places a row."""
MONTHS_AHEAD = 3


class PartitionError(GridGovError, ValueError):
    """A bad month, a partition that is not there, an archive whose account does not add up."""

    code = "partition"
    kind = "bad_input"


@dataclass(frozen=True)
class PartitionInfo:
    """One partition: which table, which month (None: the default partition), rows, bytes."""

    table: str
    name: str
    month: str | None
    rows: int
    bytes: int


def parse_month(text: str) -> date:
    """``YYYY-MM`` as the first day of that month; a clear error otherwise."""
    try:
        parsed = datetime.strptime(text.strip(), "%Y-%m")
    except ValueError:
        raise PartitionError(
            f"月份格式应为 YYYY-MM / month must be YYYY-MM, got {text!r}"
        ) from None
    return parsed.date().replace(day=1)


def partition_name(table: str, month: date) -> str:
    """``cases_p2026_11`` for ``cases`` and November 2026."""
    return f"{table}_p{month:%Y_%m}"


def ensure(
    conn: Connection,
    *,
    months_ahead: int = MONTHS_AHEAD,
    start: date | pd.Timestamp | datetime | None = None,
    end: date | pd.Timestamp | datetime | None = None,
) -> list[tuple[str, str]]:
    """Create every missing monthly partition from ``start`` (default: this month) to
    ``end`` (default: ``months_ahead`` months after this month); idempotent.

    Returns the (table, partition) pairs created. Rows of those months that
    waited in a default partition are moved into their month.
    """
    if months_ahead < 0:
        raise PartitionError(f"--months-ahead 不能为负 / must not be negative: {months_ahead}")
    today = datetime.now(UTC).date().replace(day=1)
    low = _month_of(start) if start is not None else today
    high = (
        _month_of(end)
        if end is not None
        else (pd.Timestamp(today) + pd.DateOffset(months=months_ahead)).date()
    )
    if end is None and start is not None:
        high = max(high, low)
    rows = conn.execute(
        sa.text("SELECT table_name, partition_name FROM gridgov_partitions_ensure(:lo, :hi)"),
        {"lo": low, "hi": high},
    ).all()
    return [(r[0], r[1]) for r in rows]


def ensure_for(conn: Connection, times: pd.Series | list) -> list[tuple[str, str]]:
    """Partitions for every month in ``times`` (a loader's rows), in one range."""
    stamps = pd.to_datetime(pd.Series(times), utc=True).dropna()
    if stamps.empty:
        return []
    return ensure(conn, start=stamps.min(), end=stamps.max())


def _month_of(value: date | pd.Timestamp | datetime) -> date:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC")
    return stamp.date().replace(day=1)


def is_partitioned(conn: Connection) -> bool:
    """True once migration 0100 has run (the registry of partitioned tables exists)."""
    return (
        conn.execute(sa.text("SELECT to_regclass('public.gridgov_partitioned')")).scalar()
        is not None
    )


def partitions(conn: Connection, *, exact: bool = True) -> list[PartitionInfo]:
    """Every partition of the three tables with its rows (counted, or the planner's
    estimate when not ``exact``) and its size on disk (table, indexes, TOAST)."""
    found = conn.execute(
        sa.text("""
        SELECT p.relname AS parent, c.relname AS name,
               pg_get_expr(c.relpartbound, c.oid) AS bound,
               greatest(c.reltuples, 0)::bigint AS estimate,
               pg_total_relation_size(c.oid) AS bytes
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = ANY(:tables) AND p.relnamespace = 'public'::regnamespace
        ORDER BY p.relname, c.relname
    """),
        {"tables": list(TABLES)},
    ).all()
    out = []
    for parent, name, bound, estimate, size in found:
        month = None if bound == "DEFAULT" else f"{name[-7:-3]}-{name[-2:]}"
        rows = (
            conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            if exact
            else estimate
        )
        out.append(PartitionInfo(parent, name, month, int(rows), int(size)))
    order = {t: i for i, t in enumerate(TABLES)}
    return sorted(out, key=lambda p: (order[p.table], p.month or "9999"))


def estimated_rows(conn: Connection, table: str) -> int:
    """The planner's row estimate of ``table``, summed over its partitions when it has them."""
    return int(
        conn.execute(
            sa.text("""
            SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint
            FROM pg_class c
            WHERE c.oid = CAST(:t AS regclass) AND c.relkind = 'r'
               OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = CAST(:t AS regclass))
        """),
            {"t": table},
        ).scalar_one()
    )
