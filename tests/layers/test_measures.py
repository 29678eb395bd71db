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


def test_same_part_again_satisfaction_and_extensions_on_known_cases(conn):
    from layers.measures import recurring_places

    conn.execute(
        sa.text("""
        INSERT INTO parts (id, part_code, category_id, geom)
        SELECT 901, '3205080101000901', id, ST_SetSRID(ST_Point(120.63, 31.31), 4326)
        FROM categories WHERE service_code = 'P0101'
    """)
    )
    d, h = timedelta(days=1), timedelta(hours=1)
    for n, day in enumerate((0, 5, 50)):  # 0 comes back after 5 days; 5 not within 30 days
        at = T0 + day * d
        make_case(
            conn, 40 + n, status="closed", reported=at, handled=at + h, closed=at + 2 * h,
            deadline=at + 4 * h, category="P0101", department="SWJ",
        )  # fmt: skip
    conn.execute(sa.text("UPDATE cases SET part_id = 901 WHERE case_no LIKE 'M4_'"))
    conn.execute(sa.text("UPDATE cases SET satisfaction = 5 WHERE case_no IN ('M40', 'M41')"))
    conn.execute(sa.text("UPDATE cases SET satisfaction = 2 WHERE case_no = 'M42'"))
    conn.execute(sa.text("UPDATE cases SET dispatched_at = reported_at WHERE case_no LIKE 'M4_'"))
    conn.execute(
        sa.text("""
        INSERT INTO case_events (case_id, street_code, at, actor, role, action, from_status,
                                 to_status)
        SELECT id, street_code, reported_at + interval '1 hour', 'sl-01', 'shift_leader',
               'extend', 'in_handling', 'in_handling' FROM cases WHERE case_no = 'M42'
    """)
    )
    window = {"start": date(2026, 3, 1), "end": date(2026, 4, 30)}
    row = department_performance(conn=conn, now=T0 + 60 * d, **window).set_index("code").loc["SWJ"]
    assert row.part_recurrence_rate == pytest.approx(1 / 3, abs=1e-3)
    assert row.satisfaction_rate == pytest.approx(2 / 3, abs=1e-3)
    assert row.extension_rate == pytest.approx(1 / 3, abs=1e-3)
    places = recurring_places(conn=conn, by="part", **window)
    assert places.place.tolist() == ["3205080101000901"]
    assert (places.cases.iloc[0], places.closed.iloc[0], places.recurrences.iloc[0]) == (3, 3, 1)
    assert places.department_code.iloc[0] == "SWJ"


def test_worker_load_against_the_fair_share(conn):
    from layers.measures import worker_load

    square = "ST_Multi(ST_SetSRID(ST_MakeEnvelope(120.62, 31.30, 120.64, 31.32), 4326))"
    conn.execute(
        sa.text(f"""
        INSERT INTO streets (id, code, name_zh, geom) VALUES (902, '320508097', '测', {square});
        INSERT INTO communities (id, code, street_id, name_zh, geom)
            VALUES (902, '320508097001', 902, '测', {square});
        INSERT INTO workers (id, code, name_zh) VALUES (901, 'WA', '甲'), (902, 'WB', '乙');
        INSERT INTO grids (id, code, community_id, households, worker_id, valid_from, geom)
        VALUES (911, '320508097001001', 902, 400, 901, '2026-01-01', {square}),
               (912, '320508097001002', 902, 400, 901, '2026-01-01', {square}),
               (913, '320508097001003', 902, 400, 902, '2026-01-01', {square});
    """)
    )
    make_case(conn, 50, status="closed", reported=T0, grid_id=913)
    load = worker_load(conn=conn, start=date(2026, 3, 1), end=date(2026, 3, 31)).set_index(
        "worker_code"
    )
    # 1,200 households over two workers: a fair share of 600
    assert load.loc["WA"].grids == 2 and load.loc["WA"].households == 800
    assert load.loc["WA"].households_ratio == pytest.approx(800 / 600, abs=0.01)
    assert load.loc["WB"].households_ratio == pytest.approx(400 / 600, abs=0.01)
    assert load.loc["WB"].cases == 1 and load.loc["WB"].cases_ratio == pytest.approx(2.0)
    assert load.index[0] == "WA"
