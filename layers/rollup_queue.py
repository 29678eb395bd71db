"""The rollups' queue of dirty days (migration 0125): what a change to the cases made
stale, and the refresh of only those days.

Triggers on ``cases`` and ``case_events`` queue the local days (of report) they touch; a
bulk load that turns triggers off (``session_replication_role = replica``, ``DISABLE
TRIGGER``) calls :func:`queue_days` with the days it wrote. :func:`refresh_dirty` then
rebuilds those days (and the days of the cases whose recurrence, false-closure,
part-recurrence or missed-report flags they take part in) of ``case_daily``,
``case_daily_major``, ``case_measures_daily`` and ``case_part_daily``: the same rows a
full refresh (:func:`layers.rollups.refresh_rollups`) writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.errors import GridGovError


class QueueInputError(GridGovError, ValueError):
    """Days to queue that cannot be queued (names the street and the value)."""

    code = "bad_rollup_days"
    kind = "bad_input"


def queue_days(conn: Connection, days_by_area: Mapping[str, Iterable[date]]) -> int:
    """Queue local days (of report) per street code as dirty; returns the rows queued.

    For a bulk load that writes cases with triggers off: call it in the load's
    transaction with every (street, local day) it wrote, so the rollups catch up at the
    next :func:`refresh_dirty`. Never commits (the caller owns the transaction).

    Parameters
    ----------
    days_by_area
        Street code (9 characters) -> the local days of report of the cases written
        there (``datetime.date``; a ``datetime`` is refused: its day depends on the zone).

    Raises
    ------
    QueueInputError
        A street code is not 9 characters, or a day is not a date.
    """
    streets: list[str] = []
    days: list[date] = []
    for street, written in days_by_area.items():
        if not isinstance(street, str) or len(street.strip()) != 9:
            raise QueueInputError(
                f"街道代码须为 9 位 / street code must have 9 characters: {street!r}"
            )
        for day in set(written):
            if not isinstance(day, date) or hasattr(day, "hour"):
                raise QueueInputError(
                    f"{street}: 须为本地日期 / a local date (no time) is needed, got {day!r}"
                )
            streets.append(street.strip())
            days.append(day)
    if not days:
        return 0
    result = conn.execute(
        sa.text("""
        INSERT INTO rollup_dirty_days (day, street_code)
        SELECT * FROM unnest(CAST(:days AS date[]), CAST(:streets AS text[]))"""),
        {"days": days, "streets": streets},
    )
    return int(result.rowcount)


def days_of_cases_reported(
    conn: Connection, *, start: datetime, end: datetime
) -> dict[str, set[date]]:
    """Street code -> the local days of the cases reported in [start, end) and of the
    cases whose measures flags they take part in: what a removal of those cases with
    triggers off (``gridgov db partitions detach``) makes stale, as the delete trigger
    would have queued it. Call it before the cases are gone; pass it to :func:`queue_days`.
    """
    rows = conn.execute(
        sa.text("""
        WITH gone AS MATERIALIZED (
            SELECT reported_at, category_id, h3_r10, part_id, source, street_code
            FROM cases WHERE reported_at >= :start AND reported_at < :end
        )
        SELECT DISTINCT (g.reported_at AT TIME ZONE gridgov_time_zone())::date, g.street_code
        FROM gone g
        UNION
        SELECT x.day, x.street_code
        FROM gridgov_rollup_neighbour_days(
            ARRAY(SELECT reported_at FROM gone), ARRAY(SELECT category_id FROM gone),
            ARRAY(SELECT h3_r10 FROM gone), ARRAY(SELECT part_id FROM gone),
            ARRAY(SELECT source FROM gone)) x"""),
        {"start": start, "end": end},
    )
    out: dict[str, set[date]] = {}
    for day, street in rows:
        out.setdefault(str(street).strip(), set()).add(day)
    return out


def refresh_dirty(conn: Connection, *, max_days: int | None = None) -> int:
    """Rebuild the rollups of the queued days; returns the days rebuilt (0: none queued).

    With ``max_days``, a queue of more distinct days than that is left as it is (for
    ``gridgov analyse rollups --dirty``) and minus the number of queued days is returned:
    a page reading the rollup should not wait for a bulk load's year. Never commits.
    """
    return int(
        conn.execute(
            sa.text("SELECT gridgov_refresh_dirty_rollups(CAST(:max AS integer))"),
            {"max": max_days},
        ).scalar_one()
    )


def dirty_days(conn: Connection) -> list[date]:
    """The distinct local days waiting in the queue, oldest first."""
    rows = conn.execute(sa.text("SELECT DISTINCT day FROM rollup_dirty_days ORDER BY day"))
    return [r[0] for r in rows]


def clear(conn: Connection) -> None:
    """Forget the queue (a full refresh has just rebuilt every day)."""
    conn.execute(sa.text("DELETE FROM rollup_dirty_days"))
