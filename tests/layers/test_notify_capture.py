"""The outbox's capture: no case event is ever skipped, each is fanned out once.

A committed database of its own (transactions interleave here, as they do in production).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from layers import notify
from layers.notify_subscriptions import NewReceiver, NewWatch, add_receiver, add_watch
from tests.workflow.factories import (
    INSIDE_EAST,
    INSIDE_WEST,
    WEST,
    category_with_department,
    make_case,
    served_database,
)


@pytest.fixture(scope="module")
def db():
    eng = served_database("gridgov_test_notify_capture")
    with eng.begin() as conn:  # the first pass only places the cursor at "now"
        assert notify.capture_events(conn=conn).events == 0
    yield eng
    eng.dispose()


def _capture(db, **kw) -> notify.CaptureResult:  # type: ignore[no-untyped-def]
    with db.begin() as conn:
        return notify.capture_events(conn=conn, **kw)


def _captured(db, event_ids: list[int]) -> list[int]:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        return list(
            conn.execute(
                sa.text("SELECT event_id FROM notify_events WHERE event_id = ANY(:i) ORDER BY 1"),
                {"i": event_ids},
            ).scalars()
        )


def _first_event(conn, case_id: int) -> int:  # type: ignore[no-untyped-def]
    return conn.execute(
        sa.text("SELECT min(id) FROM case_events WHERE case_id = :c"), {"c": case_id}
    ).scalar_one()


def test_an_event_committed_after_a_newer_one_is_not_skipped(db) -> None:  # type: ignore[no-untyped-def]
    slow = db.connect()
    try:
        slow_tx = slow.begin()
        early = make_case(slow)  # takes the smaller event id, commits last
        early_event = _first_event(slow, early["case_id"])
        with db.begin() as fast:
            late = make_case(fast)
            late_event = _first_event(fast, late["case_id"])
        assert early_event < late_event
        first = _capture(db)
        assert _captured(db, [early_event, late_event]) == [late_event]
        # the cursor waits below the running transaction's id, however many passes run
        for _ in range(3):
            assert _capture(db).last_id < early_event
        slow_tx.commit()
    finally:
        slow.close()
    second = _capture(db)
    assert first.events >= 1 and second.events >= 1
    assert _captured(db, [early_event, late_event]) == [early_event, late_event]
    _capture(db)
    moved = _capture(db)
    assert moved.last_id >= late_event  # every transaction ended: the cursor moves on
    assert _capture(db).events == 0  # nothing is captured twice


def _subscription_hash() -> bytes:
    return hashlib.sha256(secrets.token_bytes(16)).digest()


def test_each_event_is_queued_once_per_recipient(db) -> None:  # type: ignore[no-untyped-def]
    with db.begin() as conn:
        rid = add_receiver(
            conn=conn,
            receiver=NewReceiver(
                name=f"dept-{secrets.token_hex(3)}", url="http://127.0.0.1:9/x", secret="s" * 32
            ),
        )
        hidden = conn.execute(
            sa.text(
                "SELECT service_code FROM categories WHERE level = 2 AND service_code <> :d "
                "ORDER BY 1 LIMIT 1"
            ),
            {"d": category_with_department(conn)},
        ).scalar_one()
        add_watch(
            conn=conn,
            watch=NewWatch(
                channel="email",
                address="w@example.org",
                client_id=secrets.token_hex(8),
                unsubscribe_hash=_subscription_hash(),
                community_code=WEST,
            ),
        )
        add_watch(  # a circle of 300 m around the east point: the west case is 3 km away
            conn=conn,
            watch=NewWatch(
                channel="sms",
                address="13900000000",
                client_id=secrets.token_hex(8),
                unsubscribe_hash=_subscription_hash(),
                lon=INSIDE_EAST[0],
                lat=INSIDE_EAST[1],
                radius_m=300,
            ),
        )
    with db.begin() as conn:
        seen = make_case(conn, where=INSIDE_WEST)
        secret = make_case(conn, where=INSIDE_WEST, service_code=hidden)
        near_east = make_case(conn, where=(INSIDE_EAST[0] + 0.001, INSIDE_EAST[1]))
    for _ in range(3):
        _capture(db, hidden_service_codes=[hidden])
    with db.connect() as conn:
        rows = conn.execute(
            sa.text("""
            SELECT n.case_id, n.channel, count(*) AS n, count(DISTINCT n.delivery_key) AS keys
            FROM notifications n WHERE n.case_id = ANY(:c) GROUP BY 1, 2 ORDER BY 1, 2
        """),
            {"c": [seen["case_id"], secret["case_id"], near_east["case_id"]]},
        ).all()
        receiver_rows = conn.execute(
            sa.text("SELECT count(*) FROM notifications WHERE receiver_id = :r"), {"r": rid}
        ).scalar_one()
    got = {(r.case_id, r.channel): r.n for r in rows}
    assert all(r.n == r.keys for r in rows)
    assert got == {
        (seen["case_id"], "email"): 1,  # the community watch
        (seen["case_id"], "webhook"): 1,
        (secret["case_id"], "webhook"): 1,  # departments hear of sensitive kinds; watchers not
        (near_east["case_id"], "sms"): 1,  # the circle
        (near_east["case_id"], "webhook"): 1,
    }
    assert receiver_rows == 3


def test_failed_attempts_back_off_then_die_and_can_be_retried(db) -> None:  # type: ignore[no-untyped-def]
    with db.begin() as conn:
        add_receiver(
            conn=conn,
            receiver=NewReceiver(
                name=f"flaky-{secrets.token_hex(3)}",
                url="http://127.0.0.1:9/x",
                secret="k" * 32,
                max_tries=2,
            ),
        )
        make_case(conn)
    _capture(db)
    with db.begin() as conn:
        claimed = notify.claim_due(conn=conn, channels=["webhook"], limit=1000)
    assert claimed and len({c.id for c in claimed}) == len(claimed)
    later = datetime.now().astimezone() + timedelta(hours=1)
    with db.begin() as conn:
        for c in claimed:
            notify.record_attempt(
                conn=conn,
                notification_id=c.id,
                attempt=c.attempt,
                ok=False,
                detail="HTTP 503",
                duration_ms=1,
                retry_at=later,
            )
        assert notify.claim_due(conn=conn, channels=["webhook"]) == []  # not due yet
        conn.execute(
            sa.text("UPDATE notifications SET next_attempt_at = now() WHERE id = ANY(:i)"),
            {"i": [c.id for c in claimed]},
        )
    with db.begin() as conn:
        again = notify.claim_due(conn=conn, channels=["webhook"], limit=1000)
        assert {c.id for c in again} == {c.id for c in claimed}
        assert {c.attempt for c in again} == {2}
        statuses = {
            notify.record_attempt(
                conn=conn,
                notification_id=c.id,
                attempt=c.attempt,
                ok=False,
                detail="HTTP 500",
                duration_ms=1,
                retry_at=None,
            )
            for c in again
        }
    assert statuses == {"dead"}
    with db.begin() as conn:
        dead = {d["id"] for d in notify.dead_letters(conn=conn, limit=10_000)}
        assert {c.id for c in claimed} <= dead
        assert notify.retry_dead(conn=conn, ids=[c.id for c in claimed]) == len(claimed)
        back = notify.claim_due(conn=conn, channels=["webhook"], limit=1000)
        assert {c.id for c in back} == {c.id for c in claimed}
        assert {c.attempt for c in back} == {1}
        for c in back:
            assert (
                notify.record_attempt(
                    conn=conn,
                    notification_id=c.id,
                    attempt=c.attempt,
                    ok=True,
                    detail="HTTP 200",
                    duration_ms=1,
                    retry_at=None,
                )
                == "sent"
            )
        assert not {c.id for c in claimed} & {
            d["id"] for d in notify.dead_letters(conn=conn, limit=10_000)
        }
