"""Performance measures per handling unit and per grid — including what closure rates hide.

Definitions (all over cases *reported* in the window [start, end]):

- ``cases``: cases reported.
- ``valid_report_rate``: cases not rejected / cases (national "valid reports").
- ``accurate_dispatch_rate``: dispatched cases never sent back for rework / dispatched cases
  (national "(dispatched − rework) / dispatched").
- ``on_time_closure_rate``: closed cases with ``closed_at <= deadline_at`` / closed cases with
  a deadline.
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
- ``false_closure_rate``: closed cases that were reopened (``reopen_count > 0``) or recurred
  within 7 days of closing / closed cases.
- ``median_hours_to_first_response``: median of ``accepted_at − reported_at``.
- ``proactive_share``: cases found by patrols (source ``patrol``) / cases.
- ``backlog_open``: cases of the window still open at query time; ``backlog_median_age_days``:
  their median age at ``now``.
- ``satisfaction_rate``: rated cases with satisfaction 4 or 5 (satisfied or basically
  satisfied) / rated cases.
- ``extension_rate``: dispatched cases granted at least one extension (an ``extend`` event)
  / dispatched cases.
- ``part_recurrence_rate``: closed part faults (cases about a part) followed, within
  ``recurrence_days`` after closing, by a new case about the *same part* / closed part
  faults — the fix did not hold. Unlike ``recurrence_rate`` it does not grow with how busy
  the place is: a busy cell makes the same category come back anyway, a part does not
  break again by chance.
- ``index`` (units only): 100 × the mean of closure rate, on-time rate, (1 − rework rate) and
  (1 − recurrence rate) — a composite that rewards closing *and* fixing; ``rank``: 1 = best.

Per grid also:

- ``cases_per_100_households``: workload normalised by the grid's households.
- ``missed_reports``: cases reported by residents (hotline, app, web) for which no patrol
  report of the same category came from the same H3 r10 cell in the 7 days before — what
  residents saw and patrols did not (漏报).
- ``missed_report_share``: missed reports / cases: comparable between busy and quiet grids.

Per place (:func:`recurring_places`), the same problem coming back at one place:

- ``by="part"``: per part, ``recurrences`` = its closed cases followed within
  ``recurrence_days`` by a new case about the same part; ``by="cell"``: the same for one
  category in one H3 r10 cell. Ranked by recurrences, most first.

Per grid worker (:func:`worker_load`), workload fairness:

- ``households``: households of the current grids the worker is assigned to (``grids``
  of them); ``households_ratio``: households / the fair share (all assigned households
  / workers with a grid) — 2.0 is twice the fair load; ``cases`` and ``cases_ratio``: the
  same for cases reported in the window in those grids.

Where they come from (``source``): ``"rollup"`` reads ``case_measures_daily`` and
``case_part_daily`` (migration 0105; rebuilt by :func:`refresh_measures`, ``gridgov
analyse rollups``), which hold the counts each rate is made of per local day, street,
community, grid and department — an area and a year are then a sum over small rows;
``"cases"`` computes them from the raw cases (the reference the rollup is tested
against, and what answers a ``recurrence_days`` other than the rollup's 30). Windows are
local days of the city's time zone either way. ``community``: an area code of any level
(district, street, community; None = everywhere) — cases, grids and workers outside it
are left out.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.areas import IN_AREA
from layers.measures_rollup import (
    ROLLUP_MISSED,
    ROLLUP_PARTS,
    ROLLUP_RECURRENCE_DAYS,
    for_rollup,
    refresh_measures,
    rollup_measures,
)

__all__ = [  # the rollup's entry points, read through this module too
    "ROLLUP_RECURRENCE_DAYS",
    "refresh_measures",
    "rollup_measures",
]
CLOSED = ("closed", "rated", "archived")
Source = Literal["rollup", "cases"]

# reported in the window [start, end] of local days (the index on reported_at still serves)
_IN_WINDOW = """c.reported_at >= CAST(:start AS date)::timestamp AT TIME ZONE gridgov_time_zone()
      AND c.reported_at < (CAST(:end AS date) + 1)::timestamp AT TIME ZONE gridgov_time_zone()"""
_AREA_OF_CASE = "LEFT JOIN communities a ON a.id = c.community_id"
_CASE_IN_AREA = IN_AREA.format(code="a.code")

# cases have no index on part_id: a hash join finds the recurring part faults in one pass
_PART_RECURRED = (
    """
    SELECT DISTINCT c.id FROM cases c
    JOIN cases b ON b.part_id = c.part_id AND b.reported_at > c.closed_at
                AND b.reported_at <= c.closed_at + make_interval(days => :recurrence_days)
    WHERE c.part_id IS NOT NULL AND c.status IN ('closed', 'rated', 'archived')
      AND """
    + _IN_WINDOW
    + """
"""
)

_MEASURES = """
    WITH part_recurred AS ({part_recurred}), scope AS (
        SELECT c.status, c.closed_at, c.handled_at, c.deadline_at, c.reported_at,
               c.rework_count, {unit} AS unit,
               c.status IN ('closed', 'rated', 'archived') AND EXISTS (
                   SELECT 1 FROM cases b
                   WHERE b.category_id = c.category_id AND b.h3_r10 = c.h3_r10
                     AND b.reported_at > c.closed_at
                     AND b.reported_at <= c.closed_at + make_interval(days => :recurrence_days)
               ) AS recurred,
               c.status IN ('closed', 'rated', 'archived') AND EXISTS (
                   SELECT 1 FROM cases b
                   WHERE b.category_id = c.category_id AND b.h3_r10 = c.h3_r10
                     AND b.reported_at > c.closed_at
                     AND b.reported_at <= c.closed_at + interval '7 days'
               ) AS recurred_7d,
               c.reopen_count, c.accepted_at, c.source, c.dispatched_at, c.satisfaction,
               c.part_id,
               EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.action = 'extend')
                   AS extended,
               c.id IN (SELECT id FROM part_recurred) AS part_recurred
        FROM cases c {area_join}
        WHERE {window} AND {in_area}
    )
    SELECT unit,
           count(*) AS cases,
           round(count(*) FILTER (WHERE status <> 'rejected')::numeric / count(*), 3)
                 AS valid_report_rate,
           round(count(*) FILTER (WHERE dispatched_at IS NOT NULL AND rework_count = 0)::numeric
                 / nullif(count(*) FILTER (WHERE dispatched_at IS NOT NULL), 0), 3)
                 AS accurate_dispatch_rate,
           round(count(*) FILTER (WHERE status IN ('closed', 'rated', 'archived')
                                   AND closed_at <= deadline_at)::numeric
                 / nullif(count(*) FILTER (WHERE status IN ('closed', 'rated', 'archived')
                                            AND deadline_at IS NOT NULL), 0), 3)
                 AS on_time_closure_rate,
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
                 3) AS recurrence_rate,
           round(count(*) FILTER (WHERE status IN ('closed', 'rated', 'archived')
                                   AND (reopen_count > 0 OR recurred_7d))::numeric
                 / nullif(count(*) FILTER (WHERE status IN ('closed', 'rated', 'archived')), 0),
                 3) AS false_closure_rate,
           round((percentile_cont(0.5) WITHIN GROUP (
                 ORDER BY extract(epoch FROM accepted_at - reported_at) / 3600)
                 FILTER (WHERE accepted_at IS NOT NULL))::numeric, 2)
                 AS median_hours_to_first_response,
           round(count(*) FILTER (WHERE source = 'patrol')::numeric / count(*), 3)
                 AS proactive_share,
           count(*) FILTER (WHERE status NOT IN ('closed', 'rated', 'archived', 'rejected'))
                 AS backlog_open,
           round((percentile_cont(0.5) WITHIN GROUP (
                 ORDER BY extract(epoch FROM :now - reported_at) / 86400)
                 FILTER (WHERE status NOT IN ('closed', 'rated', 'archived', 'rejected'))
                 )::numeric, 1) AS backlog_median_age_days,
           round(count(*) FILTER (WHERE satisfaction >= 4)::numeric
                 / nullif(count(*) FILTER (WHERE satisfaction IS NOT NULL), 0), 3)
                 AS satisfaction_rate,
           round(count(*) FILTER (WHERE extended)::numeric
                 / nullif(count(*) FILTER (WHERE dispatched_at IS NOT NULL), 0), 3)
                 AS extension_rate,
           round(count(*) FILTER (WHERE part_recurred)::numeric
                 / nullif(count(*) FILTER (WHERE status IN ('closed', 'rated', 'archived')
                                            AND part_id IS NOT NULL), 0), 3)
                 AS part_recurrence_rate
    FROM scope GROUP BY unit ORDER BY unit
"""


# a unit's column in cases (raw) and in the rollup
_UNITS = {
    "department": ("c.department_id", "m.department_id"),
    "grid": ("c.grid_id", "m.grid_id"),
    "community": ("c.community_id", "m.community_id"),
    "street": ("c.street_code", "m.street_code"),
}


def _use_rollup(source: Source, recurrence_days: int) -> bool:
    if source not in ("rollup", "cases"):
        raise ValueError(f"source must be 'rollup' or 'cases', got {source!r}")
    return source == "rollup" and recurrence_days == ROLLUP_RECURRENCE_DAYS


def _measures(  # noqa: PLR0913 (the window, the area and the source, keyword-only)
    conn: Connection,
    level: str,
    *,
    start: date,
    end: date,
    now: datetime,
    recurrence_days: int,
    community: str | None,
    source: Source,
    rolled: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    if _use_rollup(source, recurrence_days):
        if rolled is not None:
            return rolled[level]
        return rollup_measures(conn, (level,), start=start, end=end, now=now, community=community)[
            level
        ]
    sql = _MEASURES.format(
        part_recurred=_PART_RECURRED,
        unit=_UNITS[level][0],
        window=_IN_WINDOW,
        area_join=_AREA_OF_CASE,
        in_area=_CASE_IN_AREA,
    )
    return pd.read_sql(
        sa.text(sql), conn, params=_params(start, end, now, recurrence_days, community)
    )


def department_performance(
    *,
    conn: Connection,
    start: date,
    end: date,
    now: datetime,
    recurrence_days: int = 30,
    community: str | None = None,
    source: Source = "cases",
    rolled: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The measures (module docs) per handling unit (department code and names).

    ``rolled``: :func:`rollup_measures`' answer for this window and area, when the caller
    read several levels at once (used when the rollup is the source)."""
    frame = _measures(
        conn, "department", start=start, end=end, now=now, recurrence_days=recurrence_days,
        community=community, source=source, rolled=rolled,
    )  # fmt: skip
    names = pd.read_sql(sa.text("SELECT id AS unit, code, name_zh, name_en FROM departments"), conn)
    out = names.merge(frame, on="unit").drop(columns="unit")
    return with_index(out)


def area_performance(  # noqa: PLR0913 (the window, the level, the area, keyword-only)
    *,
    conn: Connection,
    start: date,
    end: date,
    now: datetime,
    recurrence_days: int = 30,
    level: str = "community",
    community: str | None = None,
    source: Source = "cases",
    rolled: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The measures per community or per street (``level``) where the cases happened."""
    if level == "community":
        names_sql = "SELECT id AS unit, code, name_zh, name_en FROM communities"
    elif level == "street":
        names_sql = "SELECT code AS unit, code, name_zh, name_en FROM streets"
    else:
        raise ValueError(f"level must be 'community' or 'street', got {level!r}")
    frame = _measures(
        conn, level, start=start, end=end, now=now, recurrence_days=recurrence_days,
        community=community, source=source, rolled=rolled,
    )  # fmt: skip
    names = pd.read_sql(sa.text(names_sql), conn)
    return with_index(names.merge(frame, on="unit").drop(columns="unit"))


def with_index(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the composite ``index`` (0-100) and ``rank`` (1 = best) described above."""
    parts = pd.concat(
        [frame.closure_rate, frame.on_time_rate, 1 - frame.rework_rate, 1 - frame.recurrence_rate],
        axis=1,
    ).astype(float)
    out = frame.assign(index=(100 * parts.mean(axis=1)).round(1))
    return out.assign(rank=out["index"].rank(ascending=False, method="min").astype("Int64"))


_MISSED = """
        SELECT c.grid_id AS unit, count(*) AS missed_reports
        FROM cases c {area_join}
        WHERE {window} AND {in_area}
          AND c.source IN ('hotline', 'app', 'web')
          AND NOT EXISTS (
              SELECT 1 FROM cases p
              WHERE p.source = 'patrol' AND p.category_id = c.category_id
                AND p.h3_r10 = c.h3_r10 AND p.reported_at <= c.reported_at
                AND p.reported_at > c.reported_at - interval '7 days')
        GROUP BY c.grid_id
"""


def grid_performance(
    *,
    conn: Connection,
    start: date,
    end: date,
    now: datetime,
    recurrence_days: int = 30,
    community: str | None = None,
    source: Source = "cases",
    rolled: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The measures (module docs) per grid (code) for the grids cases were filed in."""
    frame = _measures(
        conn, "grid", start=start, end=end, now=now, recurrence_days=recurrence_days,
        community=community, source=source, rolled=rolled,
    )  # fmt: skip
    names = pd.read_sql(sa.text("SELECT id AS unit, code, households FROM grids"), conn)
    out = names.merge(frame, on="unit").drop(columns="unit")
    out["cases_per_100_households"] = (
        100 * out.cases / out.households.where(out.households > 0)
    ).round(1)
    missed_sql = (
        ROLLUP_MISSED.format(in_area=_CASE_IN_AREA)
        if _use_rollup(source, recurrence_days)
        else _MISSED.format(window=_IN_WINDOW, area_join=_AREA_OF_CASE, in_area=_CASE_IN_AREA)
    )
    missed = pd.read_sql(
        sa.text(missed_sql), conn, params=_params(start, end, now, recurrence_days, community)
    )
    out = out.merge(
        names[["unit", "code"]].merge(missed, on="unit")[["code", "missed_reports"]],
        on="code",
        how="left",
    )
    out = out.fillna({"missed_reports": 0}).astype({"missed_reports": "int64"})
    out["missed_report_share"] = (out.missed_reports / out.cases.where(out.cases > 0)).round(3)
    return out


# how "came back" is found: cells through the recurrence index, parts by a hash join
_CELL_RECURRED = """
               c.status IN ('closed', 'rated', 'archived') AND EXISTS (
                   SELECT 1 FROM cases b
                   WHERE b.category_id = c.category_id AND b.h3_r10 = c.h3_r10
                     AND b.reported_at > c.closed_at
                     AND b.reported_at <= c.closed_at + make_interval(days => :recurrence_days)
               )"""
_PLACE_KEYS = {
    "part": ("part_id", "c.part_id IS NOT NULL", "c.id IN (SELECT id FROM part_recurred)"),
    "cell": ("h3_r10", "true", _CELL_RECURRED),
}

_PLACES_LISTED = """
    SELECT k.service_code, k.name_zh, k.name_en, {label} AS place, g.code AS grid_code,
           d.code AS department_code, d.name_zh AS department_zh,
           coalesce(d.name_en, d.name_zh) AS department_en, p.cases, p.closed, p.recurrences,
           round(p.lon::numeric, 6) AS lon, round(p.lat::numeric, 6) AS lat
    FROM places p
    JOIN categories k ON k.id = p.category_id
    LEFT JOIN grids g ON g.id = p.grid_id
    LEFT JOIN departments d ON d.id = p.department_id
    {join}
    WHERE p.recurrences > 0
    ORDER BY p.recurrences DESC, p.closed DESC, place, k.service_code
    LIMIT :limit
"""

_RECURRING_PLACES = (
    """
    WITH part_recurred AS ({part_recurred}), scope AS (
        SELECT c.id, c.category_id, c.{key} AS place, c.status, c.closed_at, c.grid_id,
               c.department_id, c.geom, {recurred} AS recurred
        FROM cases c {area_join}
        WHERE {window} AND {in_area} AND {having}
    ), places AS (
        SELECT category_id, place, count(*) AS cases,
               count(*) FILTER (WHERE status IN ('closed', 'rated', 'archived')) AS closed,
               count(*) FILTER (WHERE recurred) AS recurrences,
               mode() WITHIN GROUP (ORDER BY grid_id) AS grid_id,
               mode() WITHIN GROUP (ORDER BY department_id) AS department_id,
               ST_X(ST_Centroid(ST_Collect(geom))) AS lon,
               ST_Y(ST_Centroid(ST_Collect(geom))) AS lat
        FROM scope GROUP BY category_id, place
    )
"""
    + _PLACES_LISTED
)

_ROLLUP_PARTS = ROLLUP_PARTS + _PLACES_LISTED


def recurring_places(
    *,
    conn: Connection,
    start: date,
    end: date,
    recurrence_days: int = 30,
    by: str = "part",
    limit: int = 50,
    community: str | None = None,
    source: Source = "cases",
) -> pd.DataFrame:
    """Places where the same problem keeps coming back after closing (module docs), with
    the grid and the handling department (code and names) most of their cases had.

    Parameters
    ----------
    by
        ``"part"``: one part (its ``part_code`` is the place); ``"cell"``: one category in
        one H3 resolution-10 cell (the cell id is the place; always from the cases).
    limit
        Most places returned, most recurrences first.

    Raises
    ------
    ValueError
        ``by`` is neither ``"part"`` nor ``"cell"``.
    """
    if by not in _PLACE_KEYS:
        raise ValueError(f"by must be 'part' or 'cell', got {by!r}")
    label = "t.part_code" if by == "part" else "p.place::text"
    join = "JOIN parts t ON t.id = p.place" if by == "part" else ""
    if by == "part" and _use_rollup(source, recurrence_days):
        for_rollup(conn)
        sql = _ROLLUP_PARTS.format(in_area=_CASE_IN_AREA, label=label, join=join)
    else:
        key, having, recurred = _PLACE_KEYS[by]
        sql = _RECURRING_PLACES.format(
            part_recurred=_PART_RECURRED if by == "part" else "SELECT NULL::bigint AS id",
            key=key,
            having=having,
            recurred=recurred,
            label=label,
            join=join,
            window=_IN_WINDOW,
            area_join=_AREA_OF_CASE,
            in_area=_CASE_IN_AREA,
        )
    params: dict[str, date | int | str | None] = {
        "start": start,
        "end": end,
        "recurrence_days": recurrence_days,
        "limit": limit,
        "community": community,
    }
    return pd.read_sql(sa.text(sql), conn, params=params)


_WORKED = {
    "cases": """
            SELECT g.worker_id, count(*) AS cases
            FROM cases c JOIN assigned_grids g ON g.id = c.grid_id
            WHERE """
    + _IN_WINDOW
    + """
            GROUP BY g.worker_id""",
    "rollup": """
            SELECT g.worker_id, sum(m.cases)::bigint AS cases
            FROM case_measures_daily m JOIN assigned_grids g ON g.id = m.grid_id
            WHERE m.day BETWEEN :start AND :end
            GROUP BY g.worker_id""",
}


def worker_load(
    *,
    conn: Connection,
    start: date,
    end: date,
    community: str | None = None,
    source: Source = "cases",
) -> pd.DataFrame:
    """Households and cases per grid worker against the fair share (module docs); with
    ``community``, the workers and grids of that area only."""
    if _use_rollup(source, ROLLUP_RECURRENCE_DAYS):
        for_rollup(conn)
    return pd.read_sql(
        sa.text(f"""
        WITH assigned_grids AS (
            SELECT g.id, g.worker_id, g.households, g.code
            FROM grids_current g JOIN communities a ON a.id = g.community_id
            WHERE g.worker_id IS NOT NULL AND {_CASE_IN_AREA}
        ), assigned AS (
            SELECT worker_id, count(*) AS grids, sum(households) AS households,
                   string_agg(code, ' ' ORDER BY code) AS grid_codes
            FROM assigned_grids GROUP BY worker_id
        ), worked AS ({_WORKED[source]}
        )
        SELECT w.code AS worker_code, a.grid_codes, a.grids, a.households,
               round(a.households / (sum(a.households) OVER () / count(*) OVER ()), 2)
                   AS households_ratio,
               coalesce(k.cases, 0) AS cases,
               round(coalesce(k.cases, 0)
                     / nullif(sum(coalesce(k.cases, 0)) OVER () / count(*) OVER (), 0), 2)
                   AS cases_ratio
        FROM assigned a
        JOIN workers w ON w.id = a.worker_id
        LEFT JOIN worked k ON k.worker_id = a.worker_id
        ORDER BY households_ratio DESC, w.code
    """),
        conn,
        params={"start": start, "end": end, "community": community},
    )


def _params(
    start: date, end: date, now: datetime, recurrence_days: int, community: str | None = None
) -> dict:
    return {
        "start": start,
        "end": end,
        "now": now,
        "recurrence_days": recurrence_days,
        "community": community,
    }
