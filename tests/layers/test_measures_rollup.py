"""The measures read from the rollup equal the measures computed from the raw cases.

On the loaded demo (every function, several windows, everywhere, a street and a
community) and on hand-built cases covering the edge cases (recurrence, reopening, part
faults, extensions, missed reports, open and overdue cases), before and after an
incremental refresh.
"""

from datetime import date, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from layers import measures
from tests.layers.test_measures import OTHER_CELL, T0, make_case

LEVELS = {
    "departments": lambda **kw: measures.department_performance(**kw),
    "grids": lambda **kw: measures.grid_performance(**kw),
    "communities": lambda **kw: measures.area_performance(**kw),
    "streets": lambda **kw: measures.area_performance(level="street", **kw),
}


def _both(conn, *, start, end, now, community=None) -> dict[str, tuple[pd.DataFrame, ...]]:
    """Each table from the rollup and from the cases."""
    out = {}
    for name, measure in LEVELS.items():
        out[name] = tuple(
            measure(conn=conn, start=start, end=end, now=now, community=community, source=s)
            for s in ("rollup", "cases")
        )
    rolled = measures.rollup_measures(
        conn, ("department", "grid", "community", "street"), start=start, end=end, now=now,
        community=community,
    )  # fmt: skip
    for name, measure in LEVELS.items():  # all levels in one pass: the same
        together = measure(conn=conn, start=start, end=end, now=now, community=community,
                           source="rollup", rolled=rolled)  # fmt: skip
        _assert_equal({f"{name} in one pass": (together, out[name][0])})
    out["places"] = tuple(
        measures.recurring_places(
            conn=conn, start=start, end=end, community=community, source=s, limit=1000
        )
        for s in ("rollup", "cases")
    )
    out["workers"] = tuple(
        measures.worker_load(conn=conn, start=start, end=end, community=community, source=s)
        for s in ("rollup", "cases")
    )
    return out


def _assert_equal(tables) -> None:
    for name, (rolled, raw) in tables.items():
        if rolled.empty and raw.empty:  # no rows: pandas types the columns object
            assert list(rolled.columns) == list(raw.columns), name
            continue
        pd.testing.assert_frame_equal(
            rolled.reset_index(drop=True), raw.reset_index(drop=True), obj=name
        )


@pytest.fixture(scope="module")
def areas(demo_engine):
    with demo_engine.connect() as conn:
        street = conn.execute(sa.text("SELECT min(code) FROM streets")).scalar_one()
        community = conn.execute(sa.text("SELECT max(code) FROM communities")).scalar_one()
    return [None, street, community]


@pytest.mark.parametrize("days", [366, 31, 1])
def test_rollup_equals_the_raw_cases_on_the_demo(demo_engine, small_district, areas, days):
    as_of = small_district.as_of
    end = as_of.date()
    start = end - timedelta(days=days - 1)
    now = as_of.to_pydatetime()
    with demo_engine.connect() as conn:
        for area in areas:
            tables = _both(conn, start=start, end=end, now=now, community=area)
            _assert_equal(tables)
            if days == 366 and area is None:  # it compares something: rows, planted values
                assert len(tables["departments"][0]) > 3 and len(tables["grids"][0]) > 3
                assert tables["departments"][0].recurrence_rate.notna().any()
                assert len(tables["places"][0]) > 0 and len(tables["workers"][0]) > 0
                assert tables["departments"][0].backlog_open.sum() > 0


def test_an_area_narrows_the_measures_to_its_cases(demo_engine, small_district, areas):
    as_of = small_district.as_of
    window = {"start": (as_of - pd.Timedelta(days=366)).date(), "end": as_of.date()}
    community = areas[2]
    with demo_engine.connect() as conn:
        everywhere = measures.department_performance(
            conn=conn, now=as_of.to_pydatetime(), source="rollup", **window
        )
        there = measures.department_performance(
            conn=conn, now=as_of.to_pydatetime(), source="rollup", community=community, **window
        )
        n = conn.execute(
            sa.text("""
            SELECT count(*) FROM cases c JOIN communities a ON a.id = c.community_id
            WHERE a.code = :c AND c.department_id IS NOT NULL
              AND (c.reported_at AT TIME ZONE gridgov_time_zone())::date BETWEEN :s AND :e"""),
            {"c": community, "s": window["start"], "e": window["end"]},
        ).scalar_one()
    assert there.cases.sum() == n < everywhere.cases.sum()


def _hand_built(conn) -> None:
    h, d = timedelta(hours=1), timedelta(days=1)
    conn.execute(
        sa.text("""
        INSERT INTO parts (id, part_code, category_id, geom)
        SELECT 902, '3205080101000902', id, ST_SetSRID(ST_Point(120.63, 31.31), 4326)
        FROM categories WHERE service_code = 'P0101'
    """)
    )
    make_case(conn, 1, status="archived", reported=T0, handled=T0 + 2 * h, closed=T0 + 3 * h,
              deadline=T0 + 4 * h, accepted=T0 + h / 2)  # fmt: skip
    make_case(conn, 2, status="closed", reported=T0 + 5 * d, handled=T0 + 5 * d + 6 * h,
              closed=T0 + 5 * d + 7 * h, deadline=T0 + 5 * d + 4 * h, rework=1)  # fmt: skip
    make_case(conn, 3, status="in_handling", reported=T0, deadline=T0 + 4 * h,
              source="hotline", accepted=T0 + 1.5 * h)  # fmt: skip
    make_case(conn, 4, status="rejected", reported=T0)
    make_case(conn, 5, status="closed", reported=T0, handled=T0 + 4 * h, closed=T0 + 5 * h,
              deadline=T0 + 4 * h, cell=OTHER_CELL, reopen=1, source="app")  # fmt: skip
    for n, day in enumerate((0, 5, 50)):
        at = T0 + day * d
        make_case(conn, 40 + n, status="closed", reported=at, handled=at + h, closed=at + 2 * h,
                  deadline=at + 4 * h, category="P0101", department="SWJ")  # fmt: skip
    conn.execute(sa.text("UPDATE cases SET part_id = 902 WHERE case_no LIKE 'M4_'"))
    conn.execute(sa.text("UPDATE cases SET satisfaction = 5 WHERE case_no IN ('M40', 'M41')"))
    conn.execute(sa.text("UPDATE cases SET dispatched_at = reported_at WHERE case_no LIKE 'M4_'"))
    conn.execute(
        sa.text("""
        INSERT INTO case_events (case_id, street_code, at, actor, role, action, from_status,
                                 to_status)
        SELECT id, street_code, reported_at + interval '1 hour', 'sl-01', 'shift_leader',
               'extend', 'in_handling', 'in_handling' FROM cases WHERE case_no = 'M42'
    """)
    )


def test_rollup_equals_the_raw_cases_on_edge_cases_and_after_an_incremental_refresh(conn):
    _hand_built(conn)
    window = {"start": date(2026, 3, 1), "end": date(2026, 5, 31)}
    now = T0 + timedelta(days=60)
    assert measures.refresh_measures(conn=conn) > 0
    before = _both(conn, now=now, **window)
    _assert_equal(before)
    jjdd = before["departments"][0].set_index("code").loc["JJDD"]
    assert jjdd.cases == 5 and jjdd.overdue_open == 1 and jjdd.false_closure_rate > 0
    assert before["places"][0].recurrences.tolist() == [1]
    # a new report 20 days after case 5 closed, at its place: case 5 recurred
    later = T0 + timedelta(days=20)
    make_case(conn, 6, status="reported", reported=later, cell=OTHER_CELL, source="web")
    stale = measures.department_performance(conn=conn, now=now, source="rollup", **window)
    assert stale.set_index("code").loc["JJDD"].cases == 5  # not refreshed yet
    measures.refresh_measures(conn=conn, since=later.date())
    after = _both(conn, now=now, **window)
    _assert_equal(after)
    row = after["departments"][0].set_index("code").loc["JJDD"]
    assert row.cases == 6 and row.recurrence_rate > jjdd.recurrence_rate
    # the incremental refresh wrote what a full one writes
    incremental = _rollup_rows(conn)
    measures.refresh_measures(conn=conn)
    assert incremental.equals(_rollup_rows(conn))


def _rollup_rows(conn) -> pd.DataFrame:
    return pd.read_sql(
        sa.text("""
        SELECT day, street_code, community_id, grid_id, department_id, cases, not_rejected,
               dispatched, closed, recurred, false_closed, part_recurred, missed_reports,
               open_cases,
               -- the hours are a multiset (their medians are read): compared in order, as
               -- a refresh of some days reads their cases by an index, a full one by a scan
               (SELECT array_agg(v ORDER BY v) FROM unnest(hours_to_fix) v)::text,
               (SELECT array_agg(v ORDER BY v) FROM unnest(hours_to_response) v)::text,
               open_reported_at::text, open_deadline_at::text
        FROM case_measures_daily
        ORDER BY day, street_code, community_id, grid_id, department_id"""),
        conn,
    )


def test_another_recurrence_window_is_answered_from_the_cases(conn):
    _hand_built(conn)
    measures.refresh_measures(conn=conn)
    kw = {"start": date(2026, 3, 1), "end": date(2026, 5, 31), "now": T0 + timedelta(days=60)}
    short = measures.department_performance(conn=conn, recurrence_days=3, source="rollup", **kw)
    assert short.set_index("code").loc["JJDD"].recurrence_rate == 0
    with pytest.raises(ValueError, match="source"):
        measures.department_performance(conn=conn, source="cache", **kw)  # type: ignore[arg-type]


def test_the_window_is_local_days(conn):
    # 23:30 local on 31 March is 31 March in the rollup and in the raw measures
    late = datetime(2026, 3, 31, 23, 30, tzinfo=T0.tzinfo)
    make_case(conn, 7, status="reported", reported=late)
    measures.refresh_measures(conn=conn)
    for source in ("rollup", "cases"):
        march = measures.department_performance(
            conn=conn, start=date(2026, 3, 31), end=date(2026, 3, 31), now=late, source=source
        )
        april = measures.department_performance(
            conn=conn, start=date(2026, 4, 1), end=date(2026, 4, 1), now=late, source=source
        )
        assert march.cases.sum() == 1 and april.empty, source


def test_the_medians_taken_in_numpy_are_postgresql_s(conn):
    """The rollup's medians of hours (numpy, layers.measures_rollup) give the numbers
    round(percentile_cont(0.5)::numeric, d) gives: odd and even counts, ties, halves that
    round up, one value, units with none."""
    import numpy as np

    from layers.measures_rollup import _medians

    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.gamma(2.0, 20.0, 5000),
            np.round(rng.uniform(0, 10, 400), 2),  # many exact halves of the last decimal
            # ties of the rounding (half up, not to even), 0.35 (a double just under it:
            # PostgreSQL reads 15 digits, 0.35, and rounds up), two middle values
            [1.25, 1.25, 0.35, 2.125, 2.125, 1.0, 2.0, 3.0, 4.0],
        ]
    )
    units = rng.integers(0, 40, len(values)).astype(object)
    units[-9:] = [97, 97, 98, 99, 99, 96, 96, 96, 96]
    units[:3] = [None, None, 41]  # a value of no unit; a unit of one value
    order = np.argsort(values, kind="stable")  # as layers.measures_rollup._hours gives them
    for decimals in (1, 2):
        got = _medians(values[order], order, units, decimals)  # a row per value
        expected = dict(
            conn.execute(
                sa.text("""
                SELECT u::text, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY v)::numeric,
                                      :d)::float8
                FROM unnest(CAST(:v AS float8[]), CAST(:u AS integer[])) AS x(v, u)
                WHERE u IS NOT NULL GROUP BY u"""),
                {"v": values.tolist(), "u": list(units), "d": decimals},
            ).all()
        )
        assert len(expected) == 45  # 0..39, 41, 96..99
        assert got == expected
        assert (
            got["97"] == (1.3 if decimals == 1 else 1.25)
            and got["98"] == {1: 0.4, 2: 0.35}[decimals]
        )
        assert got["99"] == (2.1 if decimals == 1 else 2.13) and got["96"] == 2.5
