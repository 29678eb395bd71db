"""The measures rollups (``case_measures_daily``, ``case_part_daily``; migration 0105):
refreshed by ``gridgov_refresh_case_measures``, read per level in one pass. The raw
definitions and the entry points are :mod:`layers.measures`."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.areas import IN_AREA

ROLLUP_RECURRENCE_DAYS = 30
"""The recurrence window the rollup was counted with."""
COLUMNS = {
    "department": "department_id",
    "grid": "grid_id",
    "community": "community_id",
    "street": "street_code",
}
"""A level's column in the rollup."""
_IN_AREA = IN_AREA.format(code="a.code")

ROLLUP_MEASURES = """
    WITH r AS MATERIALIZED (
        SELECT m.*
        FROM case_measures_daily m LEFT JOIN communities a ON a.id = m.community_id
        WHERE m.day BETWEEN :start AND :end AND {in_area}
    ), backlog AS (
        SELECT {keys}, count(*) FILTER (WHERE o.deadline_at < :now) AS overdue_open,
               percentile_cont(0.5) WITHIN GROUP (
                   ORDER BY extract(epoch FROM :now - o.reported_at) / 86400) AS age
        FROM r, unnest(r.open_reported_at, r.open_deadline_at) AS o(reported_at, deadline_at)
        GROUP BY {sets}
    ), s AS (
        SELECT {keys}, sum(cases) AS cases, sum(not_rejected) AS not_rejected,
               sum(dispatched) AS dispatched, sum(dispatched_no_rework) AS dispatched_no_rework,
               sum(closed) AS closed, sum(closed_with_deadline) AS closed_with_deadline,
               sum(closed_on_time) AS closed_on_time, sum(handled) AS handled,
               sum(handled_with_deadline) AS handled_with_deadline,
               sum(handled_on_time) AS handled_on_time, sum(reworked) AS reworked,
               sum(recurred) AS recurred, sum(false_closed) AS false_closed,
               sum(patrol) AS patrol, sum(rated) AS rated, sum(satisfied) AS satisfied,
               sum(extended) AS extended, sum(part_closed) AS part_closed,
               sum(part_recurred) AS part_recurred, sum(open_cases) AS open_cases
        FROM r GROUP BY {sets}
    )
    SELECT s.level, s.unit, s.cases,
           round(s.not_rejected::numeric / s.cases, 3) AS valid_report_rate,
           round(s.dispatched_no_rework::numeric / nullif(s.dispatched, 0), 3)
                 AS accurate_dispatch_rate,
           round(s.closed_on_time::numeric / nullif(s.closed_with_deadline, 0), 3)
                 AS on_time_closure_rate,
           s.closed,
           round(s.closed::numeric / nullif(s.not_rejected, 0), 3) AS closure_rate,
           round(s.handled_on_time::numeric / nullif(s.handled_with_deadline, 0), 3)
                 AS on_time_rate,
           coalesce(b.overdue_open, 0) AS overdue_open,
           round(s.reworked::numeric / nullif(s.handled, 0), 3) AS rework_rate,
           NULL::float8 AS median_hours_to_fix,
           round(s.recurred::numeric / nullif(s.closed, 0), 3) AS recurrence_rate,
           round(s.false_closed::numeric / nullif(s.closed, 0), 3) AS false_closure_rate,
           NULL::float8 AS median_hours_to_first_response,
           round(s.patrol::numeric / s.cases, 3) AS proactive_share,
           s.open_cases AS backlog_open,
           round(b.age::numeric, 1) AS backlog_median_age_days,
           round(s.satisfied::numeric / nullif(s.rated, 0), 3) AS satisfaction_rate,
           round(s.extended::numeric / nullif(s.dispatched, 0), 3) AS extension_rate,
           round(s.part_recurred::numeric / nullif(s.part_closed, 0), 3) AS part_recurrence_rate
    FROM s LEFT JOIN backlog b ON b.level = s.level AND b.unit = s.unit
    ORDER BY s.level, s.unit
"""

# the hours of the medians, per finest unit (department x grid x community x street): a
# hash aggregate of the rows' arrays as the doubles' own 8 bytes (float8send: exact, and
# numpy reads them as they are); the medians per level are taken in numpy
ROLLUP_HOURS = """
    SELECT m.department_id, m.grid_id, m.community_id, m.street_code,
           string_agg((SELECT string_agg(float8send(h), ''::bytea)
                       FROM unnest(m.hours_to_fix) h), ''::bytea) AS fix,
           string_agg((SELECT string_agg(float8send(h), ''::bytea)
                       FROM unnest(m.hours_to_response) h), ''::bytea) AS response
    FROM case_measures_daily m LEFT JOIN communities a ON a.id = m.community_id
    WHERE m.day BETWEEN :start AND :end AND {in_area}
    GROUP BY 1, 2, 3, 4
"""
MEDIANS = {"fix": ("median_hours_to_fix", 1), "response": ("median_hours_to_first_response", 2)}
"""The hours' medians: the rollup's array, the column and the decimals it is rounded to."""

ROLLUP_MISSED = """
        SELECT m.grid_id AS unit, sum(m.missed_reports)::bigint AS missed_reports
        FROM case_measures_daily m LEFT JOIN communities a ON a.id = m.community_id
        WHERE m.day BETWEEN :start AND :end AND {in_area}
        GROUP BY m.grid_id HAVING sum(m.missed_reports) > 0
"""

# per part from the rollup: sums per (category, part), the most frequent grid and
# department as mode() picks them (most cases, then the smallest id), the centre of the
# cases as the mean of their coordinates (what ST_Centroid of points is)
ROLLUP_PARTS = """
    WITH r AS MATERIALIZED (
        SELECT m.category_id, m.part_id, m.grid_id, m.department_id, m.cases, m.closed,
               m.recurrences, m.sum_lon, m.sum_lat
        FROM case_part_daily m LEFT JOIN communities a ON a.id = m.community_id
        WHERE m.day BETWEEN :start AND :end AND {in_area}
    ), sums AS (
        SELECT category_id, part_id AS place, sum(cases) AS cases, sum(closed) AS closed,
               sum(recurrences) AS recurrences, sum(sum_lon) / sum(cases) AS lon,
               sum(sum_lat) / sum(cases) AS lat
        FROM r GROUP BY 1, 2
    ), grid_mode AS (
        SELECT DISTINCT ON (category_id, part_id) category_id, part_id, grid_id
        FROM (SELECT category_id, part_id, grid_id, sum(cases) AS n FROM r
              WHERE grid_id IS NOT NULL GROUP BY 1, 2, 3) x
        ORDER BY category_id, part_id, n DESC, grid_id
    ), department_mode AS (
        SELECT DISTINCT ON (category_id, part_id) category_id, part_id, department_id
        FROM (SELECT category_id, part_id, department_id, sum(cases) AS n FROM r
              WHERE department_id IS NOT NULL GROUP BY 1, 2, 3) x
        ORDER BY category_id, part_id, n DESC, department_id
    ), places AS (
        SELECT s.*, gm.grid_id, dm.department_id FROM sums s
        LEFT JOIN grid_mode gm ON gm.category_id = s.category_id AND gm.part_id = s.place
        LEFT JOIN department_mode dm
               ON dm.category_id = s.category_id AND dm.part_id = s.place
    )
"""


def refresh_measures(*, conn: Connection, since: date | None = None) -> int:
    """Rebuild the measures rollups (``case_measures_daily``, ``case_part_daily``) from
    the cases: every day, or (``since``) only the days of cases reported, accepted,
    dispatched, handled or closed since that local day and of cases closed in the 30 days
    before it. Returns the ``case_measures_daily`` rows written."""
    return int(
        conn.execute(
            sa.text("SELECT gridgov_refresh_case_measures(CAST(:since AS date))"),
            {"since": since},
        ).scalar_one()
    )


def for_rollup(conn: Connection) -> None:
    """Settings for a read of the rollup, for the rest of the transaction: no JIT (its
    compiling cost seconds on queries that run in less) and room to sort the medians'
    values in memory."""
    conn.execute(sa.text("SET LOCAL jit = off"))
    conn.execute(sa.text("SET LOCAL work_mem = '64MB'"))


def rollup_measures(
    conn: Connection,
    levels: tuple[str, ...],
    *,
    start: date,
    end: date,
    now: datetime,
    community: str | None = None,
) -> dict[str, pd.DataFrame]:
    """The measures per unit of each of ``levels`` ("department", "grid", "community",
    "street") from the rollup in one pass over its rows (grouping sets): ``unit`` (the
    id, or the street's code) and the measures' columns, per level."""
    for_rollup(conn)
    columns = [COLUMNS[level] for level in levels]
    which = " ".join(
        f"WHEN GROUPING({c}) = 0 THEN '{level}'" for level, c in zip(levels, columns, strict=True)
    )
    keys = (
        f"CASE {which} END AS level, coalesce({', '.join(f'{c}::text' for c in columns)}) AS unit"
    )
    sql = ROLLUP_MEASURES.format(
        in_area=_IN_AREA,
        keys=keys,
        sets="GROUPING SETS (" + ", ".join(f"({c})" for c in columns) + ")",
    )
    params = {"start": start, "end": end, "now": now, "community": community}
    frame = pd.read_sql(sa.text(sql), conn, params=params)
    hours = pd.read_sql(sa.text(ROLLUP_HOURS.format(in_area=_IN_AREA)), conn, params=params)
    parsed = {array: _hours(hours, array) for array in MEDIANS}
    out = {}
    for level in levels:
        mine = frame[frame.level == level].drop(columns="level")
        units = hours[COLUMNS[level]].to_numpy(dtype=object)
        medians = {
            column: _medians(*parsed[array], units, decimals)
            for array, (column, decimals) in MEDIANS.items()
        }
        mine = mine.assign(**{c: mine.unit.map(m).astype("float64") for c, m in medians.items()})
        mine = mine[mine.unit.notna()]
        unit = mine.unit.str.strip() if level == "street" else mine.unit.astype("int64")
        out[level] = mine.assign(unit=unit).reset_index(drop=True)
    return out


def _hours(hours: pd.DataFrame, array: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``array`` hours of every row of :data:`ROLLUP_HOURS`, smallest first, and the
    row each comes from."""
    packed = hours[array].to_numpy(dtype=object)
    rows = np.flatnonzero(pd.notna(packed))
    chunks = [np.frombuffer(bytes(packed[i]), dtype=">f8") for i in rows]
    if not chunks:
        return np.empty(0), np.empty(0, dtype=np.intp)
    values = np.concatenate(chunks).astype(np.float64)
    of_row = np.repeat(rows, [len(c) for c in chunks])
    order = np.argsort(values)
    return values[order], of_row[order]


def _medians(
    values: np.ndarray, of_row: np.ndarray, unit_of_row: np.ndarray, decimals: int
) -> dict[str, float]:
    """Unit (as text, as the rollup's query names it) -> the median of its ``values``
    (sorted; ``of_row``: the row of each, ``unit_of_row``: the unit of each row), as
    ``round(percentile_cont(0.5)::numeric, decimals)`` gives it.

    The same number as PostgreSQL: the middle value, or ``a + (b - a) * 0.5`` of the two
    middle ones (its interpolation), turned into a decimal with 15 significant digits
    (``float8_numeric``) and rounded half away from zero (``round(numeric)``).
    """
    row_codes, names = pd.factorize(unit_of_row)  # -1: no unit
    codes = row_codes[of_row]
    known = codes >= 0
    values, codes = values[known], codes[known]
    if not len(values):
        return {}
    small = np.int16 if len(names) < 2**15 else np.int32  # a radix sort (numpy's stable)
    order = np.argsort(codes.astype(small), kind="stable")  # each unit's stay sorted
    values, codes = values[order], codes[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    counts = np.diff(np.r_[starts, len(codes)])
    low, high = values[starts + (counts - 1) // 2], values[starts + counts // 2]
    middle = low + (high - low) * 0.5
    step = Decimal(1).scaleb(-decimals)
    return {
        _unit_text(names[codes[s]]): float(Decimal(f"{m:.15g}").quantize(step, ROUND_HALF_UP))
        for s, m in zip(starts, middle, strict=True)
    }


def _unit_text(unit: object) -> str:
    """A unit as ``coalesce(<column>::text)`` names it in the rollup's query."""
    if isinstance(unit, str):
        return unit.strip()
    return str(int(unit))  # type: ignore[call-overload]
