"""The dirty-day queue (migration 0125): changes to cases queue their days, and refreshing
only those days writes what a full refresh writes — on hand-built edge cases (recurrence
made by a new report, a closing, a reclassification, a part set, an extension, a
deletion) and on the demo, and for a bulk load with triggers off that queues its days."""

from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from layers import rollup_queue
from layers.rollups import refresh_rollups
from tests.layers.test_measures import OTHER_CELL, T0, make_case
from tests.layers.test_measures_rollup import _hand_built

STREET = "320508001"
TABLES = {
    "case_daily": "day, street_code, community_id, grid_id, h3_r9, category_id, source, n",
    "case_daily_major": "day, community_id, major_id, n",
    "case_measures_daily": """day, street_code, community_id, grid_id, department_id, cases,
        not_rejected, dispatched, dispatched_no_rework, closed, closed_with_deadline,
        closed_on_time, handled, handled_with_deadline, handled_on_time, reworked, recurred,
        false_closed, patrol, rated, satisfied, extended, part_closed, part_recurred,
        missed_reports, open_cases, {sorted_fix}, {sorted_response},
        open_reported_at::text, open_deadline_at::text""".format(
        # the hours are a multiset (their median is read): the order a scan met them in
        # is no part of the answer
        sorted_fix="(SELECT array_agg(h ORDER BY h) FROM unnest(hours_to_fix) h)::text AS fix",
        sorted_response="(SELECT array_agg(h ORDER BY h) FROM unnest(hours_to_response) h)::text"
        " AS response",
    ),
    "case_part_daily": """day, street_code, community_id, category_id, part_id, grid_id,
        department_id, cases, closed, recurrences, round(sum_lon::numeric, 9) AS lon,
        round(sum_lat::numeric, 9) AS lat""",
}


def _rows(conn) -> dict[str, pd.DataFrame]:
    """Every rollup table's rows, in one order."""
    out = {}
    for table, columns in TABLES.items():
        frame = pd.read_sql(sa.text(f"SELECT {columns} FROM {table}"), conn)
        out[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


def _assert_dirty_refresh_is_a_full_refresh(conn) -> int:
    """Refresh the queued days, compare every rollup with a full refresh; the days rebuilt."""
    assert rollup_queue.dirty_days(conn), "nothing was queued"
    n = rollup_queue.refresh_dirty(conn)
    assert n > 0 and rollup_queue.dirty_days(conn) == []
    incremental = _rows(conn)
    refresh_rollups(conn=conn)
    full = _rows(conn)
    for table in TABLES:
        pd.testing.assert_frame_equal(incremental[table], full[table], obj=table)
    assert len(full["case_measures_daily"]) > 0
    return n


def _case_id(conn, n: int) -> int:
    return conn.execute(sa.text("SELECT id FROM cases WHERE case_no = :no"), {"no": f"M{n}"}).one()[
        0
    ]


def _close(conn, n: int, at) -> None:  # type: ignore[no-untyped-def]
    """Close case M<n> at ``at`` as the workflow does (the status guard let through)."""
    case_id = _case_id(conn, n)
    conn.execute(sa.text(f"SET LOCAL gridgov.transition_case = '{case_id}'"))
    conn.execute(
        sa.text("""UPDATE cases SET status = 'closed', handled_at = :at, closed_at = :at
                   WHERE id = :id"""),
        {"at": at, "id": case_id},
    )
    conn.execute(sa.text("RESET gridgov.transition_case"))


def test_changes_queue_their_days_and_the_dirty_refresh_equals_a_full_one(conn):
    _hand_built(conn)
    refresh_rollups(conn=conn)
    assert rollup_queue.dirty_days(conn) == []  # a full refresh empties the queue
    before = _rows(conn)
    # a resident's report 20 days after case 5 closed, at its place: case 5 (day T0) recurred
    later = T0 + timedelta(days=20)
    make_case(conn, 6, status="reported", reported=later, cell=OTHER_CELL, source="web")
    assert rollup_queue.dirty_days(conn) == [later.date()]  # only its own day is queued
    assert _rows(conn)["case_measures_daily"].equals(before["case_measures_daily"])  # stale
    n = _assert_dirty_refresh_is_a_full_refresh(conn)
    assert n >= 2  # case 6's day and case 5's (its recurrence flag)
    # case 6 reclassified: case 5 no longer recurred (found by the old class, not the new)
    conn.execute(
        sa.text("""UPDATE cases SET category_id = (SELECT id FROM categories
                                                    WHERE service_code = 'P0101')
                   WHERE case_no = 'M6'""")
    )
    assert T0.date() in rollup_queue.dirty_days(conn)
    _assert_dirty_refresh_is_a_full_refresh(conn)
    # a closing, a part set on a case, an extension
    _close(conn, 3, T0 + timedelta(hours=30))
    conn.execute(sa.text("UPDATE cases SET part_id = 902 WHERE case_no = 'M2'"))
    conn.execute(
        sa.text("""
        INSERT INTO case_events (case_id, street_code, at, actor, role, action, from_status,
                                 to_status)
        SELECT id, street_code, reported_at + interval '2 hours', 'sl-01', 'shift_leader',
               'extend', status, status FROM cases WHERE case_no = 'M3'""")
    )
    _assert_dirty_refresh_is_a_full_refresh(conn)


def test_a_deleted_case_unflags_the_case_it_made_recur(conn):
    _hand_built(conn)
    later = T0 + timedelta(days=20)
    make_case(conn, 6, status="reported", reported=later, cell=OTHER_CELL, source="web")
    refresh_rollups(conn=conn)
    recurred = conn.execute(sa.text("SELECT sum(recurred) FROM case_measures_daily")).scalar()
    conn.execute(sa.text("DELETE FROM cases WHERE case_no = 'M6'"))
    _assert_dirty_refresh_is_a_full_refresh(conn)
    after = conn.execute(sa.text("SELECT sum(recurred) FROM case_measures_daily")).scalar()
    assert after == recurred - 1


def test_a_bulk_load_without_triggers_queues_its_days(conn):
    _hand_built(conn)
    refresh_rollups(conn=conn)
    day = T0 + timedelta(days=40)
    conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
    make_case(conn, 7, status="reported", reported=day, source="hotline")
    conn.execute(sa.text("SET LOCAL session_replication_role = origin"))
    assert rollup_queue.dirty_days(conn) == []  # the triggers were off
    assert rollup_queue.queue_days(conn, {STREET: [day.date(), day.date()]}) == 1
    _assert_dirty_refresh_is_a_full_refresh(conn)


def test_a_long_queue_waits_for_the_command(conn):
    _hand_built(conn)
    refresh_rollups(conn=conn)
    days = [date(2026, 3, 1) + timedelta(days=i) for i in range(5)]
    rollup_queue.queue_days(conn, {STREET: days})
    assert rollup_queue.refresh_dirty(conn, max_days=3) == -5
    assert rollup_queue.dirty_days(conn) == days  # left as it was
    assert rollup_queue.refresh_dirty(conn, max_days=5) >= 5
    assert rollup_queue.refresh_dirty(conn) == 0


@pytest.mark.parametrize(
    ("days_by_area", "message"),
    [
        ({"3205": [date(2026, 3, 1)]}, "9"),
        ({STREET: [T0]}, "local date"),
        ({STREET: ["2026-03-01"]}, "local date"),
    ],
)
def test_queue_days_refuses_what_it_cannot_queue(conn, days_by_area, message):
    with pytest.raises(rollup_queue.QueueInputError, match=message):
        rollup_queue.queue_days(conn, days_by_area)


def test_a_workflow_change_on_the_demo_refreshes_like_a_full_refresh(demo_engine):
    with demo_engine.connect() as conn, conn.begin() as tx:
        row = conn.execute(
            sa.text("""SELECT id, reported_at FROM cases WHERE status = 'closed'
                       AND part_id IS NOT NULL ORDER BY reported_at DESC LIMIT 1""")
        ).one()
        # a new report at the same place and part a day after that case was reported
        conn.execute(
            sa.text("""
            INSERT INTO cases (case_no, category_id, street_code, community_id, grid_id,
                               h3_r7, h3_r8, h3_r9, h3_r10, part_id, source, status,
                               reported_at, geom)
            SELECT 'Q-1', category_id, street_code, community_id, grid_id, h3_r7, h3_r8,
                   h3_r9, h3_r10, part_id, 'app', 'reported',
                   greatest(closed_at, reported_at) + interval '1 hour', geom
            FROM cases WHERE id = :id"""),
            {"id": row.id},
        )
        _assert_dirty_refresh_is_a_full_refresh(conn)
        tx.rollback()


def test_a_detached_month_leaves_the_rollups_at_the_next_dirty_refresh(conn, tmp_path):
    from layers import partitions
    from tests.layers.test_partitions import FAR

    _hand_built(conn)  # cases of other months stay
    partitions.ensure(conn, start=FAR, end=FAR)
    # the month to detach: a closed case and, 10 days later, a report at its place that
    # makes it recur
    make_case(conn, 20, status="reported", reported=FAR, source="web")
    _close(conn, 20, FAR + timedelta(hours=30))
    make_case(conn, 21, status="reported", reported=FAR + timedelta(days=10), source="hotline")
    refresh_rollups(conn=conn)
    month_rows = sa.text(
        "SELECT count(*) FROM case_measures_daily WHERE day BETWEEN '2031-07-01' AND '2031-07-31'"
    )
    assert conn.execute(month_rows).scalar_one() > 0
    partitions.detach(conn, f"{FAR:%Y-%m}", str(tmp_path))
    queued = rollup_queue.dirty_days(conn)
    assert FAR.date() in queued and (FAR + timedelta(days=10)).date() in queued
    _assert_dirty_refresh_is_a_full_refresh(conn)
    assert conn.execute(month_rows).scalar_one() == 0
    for table in ("case_daily", "case_part_daily"):
        left = conn.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE day >= '2031-07-01'")
        ).scalar_one()
        assert left == 0, table
