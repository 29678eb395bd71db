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
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

CLOSED = ("closed", "rated", "archived")

# cases have no index on part_id: a hash join finds the recurring part faults in one pass
_PART_RECURRED = """
    SELECT DISTINCT c.id FROM cases c
    JOIN cases b ON b.part_id = c.part_id AND b.reported_at > c.closed_at
                AND b.reported_at <= c.closed_at + make_interval(days => :recurrence_days)
    WHERE c.part_id IS NOT NULL AND c.status IN ('closed', 'rated', 'archived')
      AND c.reported_at >= :start AND c.reported_at < CAST(:end AS date) + 1
"""

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
        FROM cases c
        WHERE c.reported_at >= :start AND c.reported_at < CAST(:end AS date) + 1
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


def department_performance(
    *, conn: Connection, start: date, end: date, now: datetime, recurrence_days: int = 30
) -> pd.DataFrame:
    """The measures (module docs) per handling unit (department code and names)."""
    sql = _MEASURES.format(part_recurred=_PART_RECURRED, unit="c.department_id")
    frame = pd.read_sql(sa.text(sql), conn, params=_params(start, end, now, recurrence_days))
    names = pd.read_sql(sa.text("SELECT id AS unit, code, name_zh, name_en FROM departments"), conn)
    out = names.merge(frame, on="unit").drop(columns="unit")
    return with_index(out)


def area_performance(
    *,
    conn: Connection,
    start: date,
    end: date,
    now: datetime,
    recurrence_days: int = 30,
    level: str = "community",
) -> pd.DataFrame:
    """The measures per community or per street (``level``) where the cases happened."""
    if level == "community":
        unit, names_sql = (
            "c.community_id",
            "SELECT id AS unit, code, name_zh, name_en FROM communities",
        )
    elif level == "street":
        unit, names_sql = (
            "c.street_code",
            "SELECT code AS unit, code, name_zh, name_en FROM streets",
        )
    else:
        raise ValueError(f"level must be 'community' or 'street', got {level!r}")
    frame = pd.read_sql(
        sa.text(_MEASURES.format(part_recurred=_PART_RECURRED, unit=unit)),
        conn,
        params=_params(start, end, now, recurrence_days),
    )
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


def grid_performance(
    *, conn: Connection, start: date, end: date, now: datetime, recurrence_days: int = 30
) -> pd.DataFrame:
    """The measures (module docs) per grid (code) for the grids cases were filed in."""
    sql = _MEASURES.format(part_recurred=_PART_RECURRED, unit="c.grid_id")
    frame = pd.read_sql(sa.text(sql), conn, params=_params(start, end, now, recurrence_days))
    names = pd.read_sql(sa.text("SELECT id AS unit, code, households FROM grids"), conn)
    out = names.merge(frame, on="unit").drop(columns="unit")
    out["cases_per_100_households"] = (
        100 * out.cases / out.households.where(out.households > 0)
    ).round(1)
    missed = pd.read_sql(
        sa.text("""
        SELECT c.grid_id AS unit, count(*) AS missed_reports
        FROM cases c
        WHERE c.reported_at >= :start AND c.reported_at < CAST(:end AS date) + 1
          AND c.source IN ('hotline', 'app', 'web')
          AND NOT EXISTS (
              SELECT 1 FROM cases p
              WHERE p.source = 'patrol' AND p.category_id = c.category_id
                AND p.h3_r10 = c.h3_r10 AND p.reported_at <= c.reported_at
                AND p.reported_at > c.reported_at - interval '7 days')
        GROUP BY c.grid_id
    """),
        conn,
        params=_params(start, end, now, recurrence_days),
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

_RECURRING_PLACES = """
    WITH part_recurred AS ({part_recurred}), scope AS (
        SELECT c.id, c.category_id, c.{key} AS place, c.status, c.closed_at, c.grid_id,
               c.department_id, c.geom, {recurred} AS recurred
        FROM cases c
        WHERE c.reported_at >= :start AND c.reported_at < CAST(:end AS date) + 1 AND {having}
    ), places AS (
        SELECT category_id, place, count(*) AS cases,
               count(*) FILTER (WHERE status IN ('closed', 'rated', 'archived')) AS closed,
               count(*) FILTER (WHERE recurred) AS recurrences,
               mode() WITHIN GROUP (ORDER BY grid_id) AS grid_id,
               mode() WITHIN GROUP (ORDER BY department_id) AS department_id,
               ST_Centroid(ST_Collect(geom)) AS centre
        FROM scope GROUP BY category_id, place
    )
    SELECT k.service_code, k.name_zh, k.name_en, {label} AS place, g.code AS grid_code,
           d.code AS department_code, p.cases, p.closed, p.recurrences,
           round(ST_X(p.centre)::numeric, 6) AS lon, round(ST_Y(p.centre)::numeric, 6) AS lat
    FROM places p
    JOIN categories k ON k.id = p.category_id
    LEFT JOIN grids g ON g.id = p.grid_id
    LEFT JOIN departments d ON d.id = p.department_id
    {join}
    WHERE p.recurrences > 0
    ORDER BY p.recurrences DESC, p.closed DESC, place
    LIMIT :limit
"""


def recurring_places(
    *,
    conn: Connection,
    start: date,
    end: date,
    recurrence_days: int = 30,
    by: str = "part",
    limit: int = 50,
) -> pd.DataFrame:
    """Places where the same problem keeps coming back after closing (module docs).

    Parameters
    ----------
    by
        ``"part"``: one part (its ``part_code`` is the place); ``"cell"``: one category in
        one H3 resolution-10 cell (the cell id is the place).
    limit
        Most places returned, most recurrences first.

    Raises
    ------
    ValueError
        ``by`` is neither ``"part"`` nor ``"cell"``.
    """
    if by not in _PLACE_KEYS:
        raise ValueError(f"by must be 'part' or 'cell', got {by!r}")
    key, having, recurred = _PLACE_KEYS[by]
    sql = _RECURRING_PLACES.format(
        part_recurred=_PART_RECURRED if by == "part" else "SELECT NULL::bigint AS id",
        key=key,
        having=having,
        recurred=recurred,
        label="t.part_code" if by == "part" else "p.place::text",
        join="JOIN parts t ON t.id = p.place" if by == "part" else "",
    )
    params: dict[str, date | int] = {
        "start": start,
        "end": end,
        "recurrence_days": recurrence_days,
        "limit": limit,
    }
    return pd.read_sql(sa.text(sql), conn, params=params)


def worker_load(*, conn: Connection, start: date, end: date) -> pd.DataFrame:
    """Households and cases per grid worker against the fair share (module docs)."""
    return pd.read_sql(
        sa.text("""
        WITH assigned AS (
            SELECT worker_id, count(*) AS grids, sum(households) AS households,
                   string_agg(code, ' ' ORDER BY code) AS grid_codes
            FROM grids_current WHERE worker_id IS NOT NULL GROUP BY worker_id
        ), worked AS (
            SELECT g.worker_id, count(*) AS cases
            FROM cases c JOIN grids_current g ON g.id = c.grid_id
            WHERE c.reported_at >= :start AND c.reported_at < CAST(:end AS date) + 1
            GROUP BY g.worker_id
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
        params={"start": start, "end": end},
    )


def _params(start: date, end: date, now: datetime, recurrence_days: int) -> dict:
    return {"start": start, "end": end, "now": now, "recurrence_days": recurrence_days}
