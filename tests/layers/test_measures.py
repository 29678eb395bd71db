"""Performance measures on hand-built cases whose right answer is known."""

from datetime import date, datetime, timedelta, timezone

import h3.api.basic_int as h3
import pytest
import sqlalchemy as sa

from layers.measures import department_performance

TZ = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
CELL = h3.latlng_to_cell(31.31, 120.63, 10)
OTHER_CELL = h3.latlng_to_cell(31.32, 120.64, 10)


def make_case(
    conn,
    n,
    *,
    status,
    reported,
    handled=None,
    closed=None,
    deadline=None,
    rework=0,
    cell=CELL,
    category="E0504",
    department="JJDD",
):
    conn.execute(
        sa.text("""
        INSERT INTO cases (case_no, category_id, street_code, h3_r10, source, status,
                           reported_at, handled_at, closed_at, deadline_at, rework_count,
                           department_id, geom)
        VALUES (:no, (SELECT id FROM categories WHERE service_code = :cat), '320508001', :cell,
                'patrol', :status, :reported, :handled, :closed, :deadline, :rework,
                (SELECT id FROM departments WHERE code = :dept),
                ST_SetSRID(ST_Point(120.63, 31.31), 4326))
    """),
        {
            "no": f"M{n}",
            "cat": category,
            "cell": cell,
            "status": status,
            "reported": reported,
            "handled": handled,
            "closed": closed,
            "deadline": deadline,
            "rework": rework,
            "dept": department,
        },
    )


def test_measures_on_known_cases(conn):
    h = timedelta(hours=1)
    # 1: closed on time, and the problem came back 5 days later at the same place (case 2)
    make_case(
        conn,
        1,
        status="archived",
        reported=T0,
        handled=T0 + 2 * h,
        closed=T0 + 3 * h,
        deadline=T0 + 4 * h,
    )
    make_case(
        conn,
        2,
        status="closed",
        reported=T0 + timedelta(days=5),
        handled=T0 + timedelta(days=5) + 6 * h,
        closed=T0 + timedelta(days=5, hours=7),
        deadline=T0 + timedelta(days=5) + 4 * h,
        rework=1,
    )
    # 3: still open and overdue
    make_case(conn, 3, status="in_handling", reported=T0, deadline=T0 + 4 * h)
    # 4: rejected: does not count for the closure rate
    make_case(conn, 4, status="rejected", reported=T0)
    # 5: same category, other place, closed: no recurrence
    make_case(
        conn,
        5,
        status="closed",
        reported=T0,
        handled=T0 + 4 * h,
        closed=T0 + 5 * h,
        deadline=T0 + 4 * h,
        cell=OTHER_CELL,
    )
    row = department_performance(
        conn=conn,
        start=date(2026, 3, 1),
        end=date(2026, 3, 31),
        now=T0 + timedelta(days=10),
        recurrence_days=30,
    )
    row = row.set_index("code").loc["JJDD"]
    assert row.cases == 5
    assert row.closed == 3
    assert row.closure_rate == pytest.approx(3 / 4, abs=1e-3)
    assert row.on_time_rate == pytest.approx(2 / 3, abs=1e-3)  # 1 and 5 on time, 2 late
    assert row.overdue_open == 1
    assert row.rework_rate == pytest.approx(1 / 3, abs=1e-3)
    assert row.median_hours_to_fix == pytest.approx(4.0)
    assert row.recurrence_rate == pytest.approx(1 / 3, abs=1e-3)  # only case 1 recurred
    # a shorter recurrence window no longer sees case 2
    short = department_performance(
        conn=conn,
        start=date(2026, 3, 1),
        end=date(2026, 3, 31),
        now=T0 + timedelta(days=10),
        recurrence_days=3,
    )
    assert short.set_index("code").loc["JJDD"].recurrence_rate == 0


def test_hotspots_over_the_demo_keep_every_case(demo_engine, small_district):
    from layers.views import leader_hotspots

    spots = leader_hotspots(
        demo_engine, start=date(2025, 1, 1), end=date(2026, 12, 31), resolution=9
    )
    assert spots.cells.n.sum() == len(small_district.cases)  # edge cells included
    assert set(spots.cells.bin) <= {-3, -2, -1, 0, 1, 2, 3}
    assert (spots.cells.bin > 0).any()  # the demo's hotspots are found
