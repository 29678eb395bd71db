"""The notification worker: capture case events, send what is due, retry with back-off.

``gridgov notify run`` loops over :func:`run_once`: one short transaction captures new
case events and queues their notifications (:func:`layers.notify.capture_events`),
another claims a batch of due ones; each is sent outside any transaction (a slow
receiver holds no lock) and its outcome is recorded in a third. A failed attempt is
retried after ``base · 2^(attempt-1)`` seconds (capped); after the last try it becomes
a dead letter (``gridgov notify dead``). The worker acts as the ``system`` role.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from layers import notify, notify_subscriptions
from layers.notify import Claimed
from layers.notify_subscriptions import NewReceiver
from layers.workflow.access import Scope
from services.notify_subscriptions import sensitive_service_codes
from services.senders import Sender, SendFailed, senders_from_env
from services.uow import unit_of_work

__all__ = [
    "SYSTEM",
    "PassResult",
    "RetryPolicy",
    "add_receiver",
    "dead_letters",
    "list_receivers",
    "retry_dead",
    "run",
    "run_once",
]

SYSTEM = Scope("system")
log = logging.getLogger("gridgov.notify")


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off for channels without their own settings (webhook receivers have theirs)."""

    max_tries: int = 8
    base_s: float = 30.0
    cap_s: float = 3600.0

    def delay_s(
        self, attempt: int, *, base_s: float | None = None, cap_s: float | None = None
    ) -> float:
        """Seconds before the next try after failed attempt number ``attempt`` (1-based)."""
        base = self.base_s if base_s is None else base_s
        cap = self.cap_s if cap_s is None else cap_s
        return float(min(cap, base * 2 ** max(attempt - 1, 0)))


@dataclass(frozen=True)
class PassResult:
    """One pass of the worker."""

    captured: int
    queued: int
    sent: int
    failed: int
    dead: int


def run_once(
    engine: Engine,
    *,
    senders: Mapping[str, Sender] | None = None,
    policy: RetryPolicy | None = None,
    hidden_service_codes: Sequence[str] | None = None,
    batch: int = 50,
) -> PassResult:
    """Capture new events, then send every due notification of the configured channels.

    Parameters
    ----------
    engine
        A privileged login (the worker acts as ``system``).
    senders
        Channel -> sender (default: :func:`services.senders.senders_from_env`); a channel
        without a sender waits in the outbox.
    """
    senders = senders_from_env() if senders is None else senders
    policy = policy or RetryPolicy()
    hidden = sensitive_service_codes() if hidden_service_codes is None else hidden_service_codes
    with unit_of_work(engine, SYSTEM, write=True) as conn:
        captured = notify.capture_events(conn=conn, hidden_service_codes=hidden)
    sent = failed = dead = 0
    held: dict[int, datetime] = {}  # receivers that failed in this pass: until when
    while True:
        with unit_of_work(engine, SYSTEM, write=True) as conn:
            claimed = notify.claim_due(conn=conn, channels=list(senders), limit=batch)
        later: dict[datetime, list[int]] = {}
        for item in claimed:
            if item.receiver_id in held:
                # a receiver that is down is not hammered once per queued event: the rest
                # of its queue waits, untried, for its next retry
                later.setdefault(held[item.receiver_id], []).append(item.id)
                continue
            status, retry_at = _attempt(engine, item, senders[item.channel], policy)
            if status != "sent" and item.receiver_id is not None:
                held[item.receiver_id] = retry_at or (
                    datetime.now().astimezone() + timedelta(seconds=item.backoff_base_s or 1.0)
                )
            sent += status == "sent"
            failed += status == "pending"
            dead += status == "dead"
        if later:
            with unit_of_work(engine, SYSTEM, write=True) as conn:
                for retry_at, ids in later.items():
                    notify.release(conn=conn, notification_ids=ids, retry_at=retry_at)
        if len(claimed) < batch:
            break
    return PassResult(captured.events, captured.notifications, sent, failed, dead)


def _attempt(
    engine: Engine, item: Claimed, sender: Sender, policy: RetryPolicy
) -> tuple[str, datetime | None]:
    started = time.monotonic()
    ok, detail = True, ""
    try:
        detail = sender.send(item)
    except SendFailed as exc:
        ok, detail = False, exc.message
    except Exception as exc:  # a sender's bug must not stop the worker; it is retried
        log.exception("sender %s failed on %s", item.channel, item.delivery_key)
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    ms = int((time.monotonic() - started) * 1000)
    retry_at = None
    max_tries = item.max_tries or policy.max_tries
    if not ok and item.attempt < max_tries:
        delay = policy.delay_s(item.attempt, base_s=item.backoff_base_s, cap_s=item.backoff_cap_s)
        retry_at = datetime.now().astimezone() + timedelta(seconds=delay)
    with unit_of_work(engine, SYSTEM, write=True) as conn:
        status = notify.record_attempt(
            conn=conn,
            notification_id=item.id,
            attempt=item.attempt,
            ok=ok,
            detail=detail,
            duration_ms=ms,
            retry_at=retry_at,
        )
    return status, retry_at


def run(
    engine: Engine,
    *,
    interval_s: float = 2.0,
    stop: threading.Event | None = None,
    senders: Mapping[str, Sender] | None = None,
    policy: RetryPolicy | None = None,
    hidden_service_codes: Sequence[str] | None = None,
) -> None:
    """Run :func:`run_once` every ``interval_s`` until ``stop`` is set (or forever).

    A pass that fails (the database restarting, say) is logged and tried again at the
    next tick: nothing is lost, the events stay in ``case_events`` and the outbox.
    """
    stop = stop or threading.Event()
    senders = senders_from_env() if senders is None else senders
    while not stop.is_set():
        try:
            run_once(
                engine, senders=senders, policy=policy, hidden_service_codes=hidden_service_codes
            )
        except Exception:
            log.exception("notification pass failed; trying again in %.1f s", interval_s)
        stop.wait(interval_s)


def add_receiver(engine: Engine, receiver: NewReceiver) -> int:
    """Store a signed-webhook receiver (it hears of events from now on)."""
    with unit_of_work(engine, SYSTEM, write=True) as conn:
        return notify_subscriptions.add_receiver(conn=conn, receiver=receiver)


def list_receivers(engine: Engine) -> list[dict[str, Any]]:
    """Receivers and their sent / waiting / dead counts (no secrets)."""
    with unit_of_work(engine, SYSTEM) as conn:
        return notify_subscriptions.list_receivers(conn=conn)


def dead_letters(engine: Engine, *, limit: int = 100) -> list[dict[str, Any]]:
    """Notifications that ran out of tries, newest first."""
    with unit_of_work(engine, SYSTEM) as conn:
        return notify.dead_letters(conn=conn, limit=limit)


def retry_dead(engine: Engine, *, ids: Sequence[int] | None = None) -> int:
    """Queue dead letters again with fresh tries; returns how many."""
    with unit_of_work(engine, SYSTEM, write=True) as conn:
        return notify.retry_dead(conn=conn, ids=ids)
