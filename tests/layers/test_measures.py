"""Performance measures on hand-built cases whose right answer is known."""

from datetime import date, datetime, timedelta

import h3.api.basic_int as h3
import pytest
import sqlalchemy as sa

from city import time_zone
from layers.measures import area_performance, department_performance

TZ = time_zone()
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
    source="patrol",
    accepted=None,
    grid_id=None,
    reopen=0,
):
    conn.execute(
        sa.text("""
        INSERT INTO cases (case_no, category_id, street_code, h3_r10, source, status,
                           reported_at, accepted_at, handled_at, closed_at, deadline_at,
                           rework_count, reopen_count, department_id, grid_id, geom)
        VALUES (:no, (SELECT id FROM categories WHERE service_code = :cat), '320508001', :cell,
                :source, :status, :reported, :accepted, :handled, :closed, :deadline, :rework,
                :reopen, (SELECT id FROM departments WHERE code = :dept), :grid,
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
            "source": source,
            "accepted": accepted,
            "grid": grid_id,
            "reopen": reopen,
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
        accepted=T0 + h / 2,
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
    # 3: still open and overdue, reported by a resident, accepted after 1.5 hours
    make_case(
        conn,
        3,
        status="in_handling",
        reported=T0,
        deadline=T0 + 4 * h,
        source="hotline",
        accepted=T0 + 1.5 * h,
    )
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
    assert row.false_closure_rate == pytest.approx(1 / 3, abs=1e-3)  # case 1, within 7 days
    assert row.valid_report_rate == pytest.approx(4 / 5, abs=1e-3)
    assert row.on_time_closure_rate == pytest.approx(1 / 3, abs=1e-3)  # only case 1
    assert row.median_hours_to_first_response == pytest.approx(1.0)  # median of 0.5 and 1.5
    assert row.proactive_share == pytest.approx(4 / 5, abs=1e-3)
    assert row.backlog_open == 1 and row.backlog_median_age_days == pytest.approx(10.0)
    expected_index = 100 * (3 / 4 + 2 / 3 + (1 - 1 / 3) + (1 - 1 / 3)) / 4
    assert row["index"] == pytest.approx(expected_index, abs=0.1)
    assert row["rank"] >= 1
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
    from services.leader import leader_hotspots

    spots = leader_hotspots(
        demo_engine, start=date(2025, 1, 1), end=date(2026, 12, 31), resolution=9
    )
    assert spots.cells.n.sum() == len(small_district.cases)  # edge cells included
    assert set(spots.cells.bin) <= {-3, -2, -1, 0, 1, 2, 3}
    assert (spots.cells.bin > 0).any()  # the demo's hotspots are found


def test_missed_reports_per_grid(conn):
    from layers.measures import grid_performance

    square = "ST_Multi(ST_SetSRID(ST_MakeEnvelope(120.62, 31.30, 120.64, 31.32), 4326))"
    conn.execute(
        sa.text(f"""
        INSERT INTO streets (id, code, name_zh, geom) VALUES (901, '320508098', '测', {square});
        INSERT INTO communities (id, code, street_id, name_zh, geom)
            VALUES (901, '320508098001', 901, '测', {square});
        INSERT INTO grids (id, code, community_id, households, valid_from, geom)
            VALUES (901, '320508098001001', 901, 200, '2026-01-01', {square});
    """)
    )
    d = timedelta(days=1)
    make_case(conn, 10, status="closed", reported=T0, grid_id=901)  # patrol found it
    make_case(conn, 11, status="closed", reported=T0 + d, grid_id=901, source="app")  # seen
    make_case(
        conn, 12, status="closed", reported=T0 + d, grid_id=901, source="app", cell=OTHER_CELL
    )  # another place: missed
    make_case(
        conn, 13, status="closed", reported=T0 + 10 * d, grid_id=901, source="hotline"
    )  # the patrol report is older than 7 days: missed
    grids = grid_performance(
        conn=conn, start=date(2026, 3, 1), end=date(2026, 3, 31), now=T0 + 20 * d
    ).set_index("code")
    row = grids.loc["320508098001001"]
    assert row.missed_reports == 2
    assert row.cases_per_100_households == pytest.approx(100 * 4 / 200)


def test_measures_per_community_and_street_add_up_to_the_same_cases(conn):
    h = timedelta(hours=1)
    conn.execute(
        sa.text("""
        INSERT INTO streets (code, name_zh, name_en, geom)
        VALUES ('320508001', '测试街道', 'Test street',
                ST_Multi(ST_Buffer(ST_SetSRID(ST_Point(120.63, 31.31), 4326), 0.1)))
        ON CONFLICT (code) DO NOTHING
    """)
    )
    make_case(
        conn,
        31,
        status="closed",
        reported=T0,
        handled=T0 + h,
        closed=T0 + 2 * h,
        deadline=T0 + 3 * h,
    )
    make_case(conn, 32, status="dispatched", reported=T0, deadline=T0 + h)
    window = {"start": date(2026, 3, 1), "end": date(2026, 3, 31), "now": T0 + timedelta(days=1)}
    street = area_performance(conn=conn, level="street", **window).set_index("code")
    row = street.loc["320508001"]
    assert row.cases == 2 and row.closed == 1 and row.overdue_open == 1
    assert row.closure_rate == pytest.approx(1 / 2, abs=1e-3)
    department = department_performance(conn=conn, **window).set_index("code").loc["JJDD"]
    assert row.cases == department.cases  # the same cases, grouped by place instead of unit
    # cases without a community are in no community's row
    assert area_performance(conn=conn, **window).cases.sum() == 0
    with pytest.raises(ValueError, match="level"):
        area_performance(conn=conn, level="city", **window)
