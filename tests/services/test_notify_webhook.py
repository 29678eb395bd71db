"""Signed webhooks: a receiver down for a minute then up gets every event exactly once.

The worker is the real loop (``services.notify.run`` in a thread, what ``gridgov notify
run`` starts); the receiver is a real HTTP server on loopback that is simply not
listening for the first 60 s (connection refused), then comes up. Each request's
signature is checked here from the secret, independently of the sender's code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time

import pytest
import sqlalchemy as sa

from layers.notify_subscriptions import NewReceiver
from services import notify
from services.senders import WebhookSender, verify
from tests.services.notify_kit import HttpReceiver, free_port, report, walk_case
from tests.workflow.factories import served_database

DOWN_S = 60.0


@pytest.fixture(scope="module")
def db():
    eng = served_database("gridgov_test_notify_webhook")
    notify.run_once(eng, senders={})
    yield eng
    eng.dispose()


def _signed_ok(secret: str, request: dict) -> bool:  # type: ignore[type-arg]
    h = {k.lower(): v for k, v in request["headers"].items()}
    ts = h["x-gridgov-timestamp"]
    mac = hmac.new(secret.encode(), ts.encode() + b"." + request["body"], hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), h["x-gridgov-signature"]) and (
        abs(time.time() - int(ts)) < 300
    )


def _event_ids(db, case_ids: list[int]) -> list[int]:  # type: ignore[no-untyped-def]
    with db.connect() as conn:
        return list(
            conn.execute(
                sa.text("SELECT id FROM case_events WHERE case_id = ANY(:c) ORDER BY id"),
                {"c": case_ids},
            ).scalars()
        )


def test_a_receiver_down_for_a_minute_gets_every_event_exactly_once(db) -> None:  # type: ignore[no-untyped-def]
    secret = secrets.token_urlsafe(32)
    receiver = HttpReceiver(port=free_port())
    notify.add_receiver(
        db,
        NewReceiver(
            name="city-mgmt",
            url=receiver.url,
            secret=secret,
            max_tries=40,
            backoff_base_s=1.0,
            backoff_cap_s=8.0,
        ),
    )
    stop = threading.Event()
    worker = threading.Thread(
        target=notify.run,
        kwargs={
            "engine": db,
            "interval_s": 0.5,
            "stop": stop,
            "senders": {"webhook": WebhookSender(timeout_s=5)},
        },
        daemon=True,
    )
    worker.start()
    started = time.monotonic()
    try:
        first = report(db)
        steps = walk_case(db, first["case_id"])
        for _ in range(3):  # accept, register, dispatch while the receiver is down
            next(steps)
        time.sleep(25)
        second = report(db)  # and more events in the middle of the outage
        for _ in range(2):
            next(steps)
        time.sleep(max(0.0, DOWN_S - (time.monotonic() - started)))
        with db.connect() as conn:
            failed = conn.execute(
                sa.text("SELECT count(*) FROM notify_deliveries WHERE NOT ok")
            ).scalar_one()
        assert failed >= 5 and receiver.requests == []  # it was tried while down
        receiver.start()  # up after a minute
        expected = _event_ids(db, [first["case_id"], second["case_id"]])
        deadline = time.monotonic() + 30
        while len(receiver.requests) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # anything sent twice would arrive now
    finally:
        stop.set()
        worker.join(30)
        receiver.stop()
    got = [json.loads(r["body"]) for r in receiver.requests]
    assert sorted(g["event"]["id"] for g in got) == expected  # every event, exactly once
    assert all(_signed_ok(secret, r) for r in receiver.requests)
    keys = [r["headers"]["X-GridGov-Delivery"] for r in receiver.requests]
    assert len(set(keys)) == len(keys) and all(g["delivery"] in keys for g in got)
    assert {g["case"]["case_no"] for g in got} == {first["case_no"], second["case_no"]}
    assert all("phone" not in json.dumps(g) and "13812345678" not in json.dumps(g) for g in got)


def test_signature_check_refuses_a_changed_body_or_an_old_timestamp() -> None:
    body = b'{"event": 1}'
    ts = int(time.time())
    from services.senders import sign

    good = sign("k" * 32, body, ts)
    assert verify("k" * 32, body, str(ts), good)
    assert not verify("k" * 32, body + b" ", str(ts), good)
    assert not verify("x" * 32, body, str(ts), good)
    assert not verify("k" * 32, body, str(ts - 600), sign("k" * 32, body, ts - 600))
    assert not verify("k" * 32, body, str(ts), good[:-1] + "é")  # non-ASCII: no TypeError


def test_a_receiver_that_keeps_failing_ends_in_the_dead_letters(db) -> None:  # type: ignore[no-untyped-def]
    receiver = HttpReceiver(port=free_port(), status=500)
    receiver.start()
    try:
        notify.add_receiver(
            db,
            NewReceiver(
                name="broken",
                url=receiver.url,
                secret="s" * 32,
                max_tries=3,
                backoff_base_s=0.2,
                backoff_cap_s=0.2,
            ),
        )
        case = report(db)
        senders = {"webhook": WebhookSender(timeout_s=5)}
        for _ in range(4):
            notify.run_once(db, senders=senders)
            time.sleep(0.3)
        dead = [d for d in notify.dead_letters(db) if d["receiver"] == "broken"]
        assert [d["case_no"] for d in dead] == [case["case_no"]]
        assert dead[0]["attempts"] == 3 and dead[0]["last_error"] == "HTTP 500"
        assert len(receiver.requests) == 3
        receiver.status = 200
        assert notify.retry_dead(db) >= 1
        notify.run_once(db, senders=senders)
        assert len(receiver.requests) == 4
        assert not [d for d in notify.dead_letters(db) if d["receiver"] == "broken"]
        listed = {r["name"]: r for r in notify.list_receivers(db)}
        assert (listed["broken"]["sent"], listed["broken"]["dead"]) == (1, 0)
        assert "secret" not in listed["broken"]
    finally:
        receiver.stop()


def test_a_down_receiver_is_tried_once_per_pass_not_once_per_event(db) -> None:  # type: ignore[no-untyped-def]
    rid = notify.add_receiver(
        db, NewReceiver(name="away", url=f"http://127.0.0.1:{free_port()}/hook", secret="a" * 32)
    )
    for _ in range(3):
        report(db)
    notify.run_once(db, senders={"webhook": WebhookSender(timeout_s=5)})
    with db.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT n.status, n.attempts, n.next_attempt_at > now() AS later, "
                "(SELECT count(*) FROM notify_deliveries WHERE notification_id = n.id) AS tries "
                "FROM notifications n WHERE n.receiver_id = :r ORDER BY n.id"
            ),
            {"r": rid},
        ).all()
    assert len(rows) == 3
    assert sum(r.tries for r in rows) == 1 and sum(r.attempts for r in rows) == 1
    assert all(r.status == "pending" and r.later for r in rows)  # all wait for the retry
