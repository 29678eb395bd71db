"""The leader's reads rebuild the days queued as changed first (a few of them), as the leader."""

from datetime import timedelta

import sqlalchemy as sa

from layers import rollup_queue
from services.leader import FRESH_ON_READ_DAYS, refresh_stale_rollups
from services.login import Scope

LEADER = Scope("leader")


def _queue(engine, n_days: int) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        street, last = conn.execute(
            sa.text("SELECT min(street_code), max(day) FROM case_measures_daily")
        ).one()
        rollup_queue.queue_days(conn, {street: [last - timedelta(days=i) for i in range(n_days)]})


def _rows(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM case_measures_daily")).scalar_one())


def test_a_read_rebuilds_a_few_queued_days_and_leaves_a_long_queue(demo_engine):
    rows = _rows(demo_engine)
    _queue(demo_engine, 2)
    assert refresh_stale_rollups(demo_engine, scope=LEADER) >= 2  # committed, as the leader
    with demo_engine.connect() as conn:
        assert rollup_queue.dirty_days(conn) == []
    assert _rows(demo_engine) == rows  # the same days rebuilt: the same rows
    _queue(demo_engine, FRESH_ON_READ_DAYS + 1)
    assert refresh_stale_rollups(demo_engine, scope=LEADER) == -(FRESH_ON_READ_DAYS + 1)
    with demo_engine.begin() as conn:  # the command's way
        assert len(rollup_queue.dirty_days(conn)) == FRESH_ON_READ_DAYS + 1
        assert rollup_queue.refresh_dirty(conn) > FRESH_ON_READ_DAYS
    assert _rows(demo_engine) == rows
