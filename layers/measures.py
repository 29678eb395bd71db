"""Performance measures per handling unit and per grid — including what closure rates hide.

Definitions (all over cases *reported* in the window [start, end]):

- ``cases``: cases reported.
- ``closed``: cases whose status is closed, rated or archived.
- ``closure_rate``: closed / (cases − rejected).
- ``on_time_rate``: handled cases with ``handled_at <= deadline_at`` / handled cases that had
  a deadline (handling on time, the handler's measure).
- ``overdue_open``: cases still open whose deadline has passed at ``now``.
- ``rework_rate``: cases with at least one rework / cases that were handled at least once.
- ``median_hours_to_fix``: median of ``handled_at − reported_at`` over handled cases.
- ``recurrence_rate``: closed cases followed, within ``recurrence_days`` after closing, by a
  new case of the same category in the same H3 resolution-10 cell (~65 m edge) — the
  problem came back at the same place. A high closure rate with a high recurrence rate is
  "closed on paper".
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

CLOSED = ("closed", "rated", "archived")

_MEASURES = """
    WITH scope AS (
        SELECT c.status, c.closed_at, c.handled_at, c.deadline_at, c.reported_at,
               c.rework_count, {unit} AS unit,
               c.status IN ('closed', 'rated', 'archived') AND EXISTS (
                   SELECT 1 FROM cases b
                   WHERE b.category_id = c.category_id AND b.h3_r10 = c.h3_r10
                     AND b.reported_at > c.closed_at
                     AND b.reported_at <= c.closed_at + make_interval(days => :recurrence_days)
               ) AS recurred
        FROM cases c
        WHERE c.reported_at >= :start AND c.reported_at < CAST(:end AS date) + 1
    )
    SELECT unit,
           count(*) AS cases,
           count(*) FILTER (WHERE status IN ('closed', 'rated', 'archived')) AS closed,
           round(count(*) FILTER (WHERE status IN ('closed', 'rated', 'archived'))::numeric
                 / nullif(count(*) FILTER (WHERE status <> 'rejected'), 0), 3) AS closure_rate,
           round(count(*) FILTER (WHERE handled_at <= deadline_at)::numeric
                 / nullif(count(*) FILTER (WHERE handled_at IS NOT NULL
                                            AND deadline_at IS NOT NULL), 0), 3) AS on_time_rate,
           count(*) FILTER (WHERE status NOT IN ('closed', 'rated', 'archived', 'rejected')
                             AND deadline_at < :now) AS overdue_open,
           round(count(*) FILTER (WHERE rework_count > 0)::numeric
                 / nullif(count(*) FILTER (WHERE handled_at IS NOT NULL), 0), 3) AS rework_rate,
           round((percentile_cont(0.5) WITHIN GROUP (
                 ORDER BY extract(epoch FROM handled_at - reported_at) / 3600)
                 FILTER (WHERE handled_at IS NOT NULL))::numeric, 1) AS median_hours_to_fix,
           round(count(*) FILTER (WHERE recurred)::numeric
                 / nullif(count(*) FILTER (WHERE status IN ('closed', 'rated', 'archived')), 0),
                 3) AS recurrence_rate
    FROM scope GROUP BY unit ORDER BY unit
"""


def department_performance(
    *, conn: Connection, start: date, end: date, now: datetime, recurrence_days: int = 30
) -> pd.DataFrame:
    """The measures (module docs) per handling unit (department code and names)."""
    sql = _MEASURES.format(unit="c.department_id")
    frame = pd.read_sql(sa.text(sql), conn, params=_params(start, end, now, recurrence_days))
    names = pd.read_sql(sa.text("SELECT id AS unit, code, name_zh, name_en FROM departments"), conn)
    return names.merge(frame, on="unit").drop(columns="unit")


def grid_performance(
    *, conn: Connection, start: date, end: date, now: datetime, recurrence_days: int = 30
) -> pd.DataFrame:
    """The measures (module docs) per grid (code) for the grids cases were filed in."""
    sql = _MEASURES.format(unit="c.grid_id")
    frame = pd.read_sql(sa.text(sql), conn, params=_params(start, end, now, recurrence_days))
    names = pd.read_sql(sa.text("SELECT id AS unit, code, households FROM grids"), conn)
    return names.merge(frame, on="unit").drop(columns="unit")


def _params(start: date, end: date, now: datetime, recurrence_days: int) -> dict:
    return {"start": start, "end": end, "now": now, "recurrence_days": recurrence_days}
